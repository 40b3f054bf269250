package convert

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// This file holds the XML scanner used by XMLToJSON. It is hand-written
// because encoding/xml allocates for every token and was about seven times
// slower here (20 against 150 MB/s). It checks well-formedness as XML 1.0
// defines it for documents without a document type declaration: matching
// tags, unique attributes, one root element, valid characters and UTF-8,
// and only the predefined entities and character references. Names are
// checked with the same tables as names written by JSONToXML.
// oracle_test.go compares it with encoding/xml.

// scanner reads one XML document and reports its content to the builder.
type scanner struct {
	src    []byte
	pos    int
	b      *x2j
	buf    []byte              // decoded references and normalised line ends
	att    [][]byte            // attribute names of the current start tag
	attSet map[string]struct{} // the same, for tags with many attributes
}

// parse parses src and builds c's tree.
func (c *x2j) parse(src []byte) error {
	s := scanner{src: src, b: c}
	if err := s.document(); err != nil {
		err.Line = 1 + bytes.Count(src[:min(int(err.Offset), len(src))], []byte{'\n'})
		return err
	}
	return nil
}

func (s *scanner) errorf(msg string) *SyntaxError {
	return &SyntaxError{Format: "xml", Msg: msg, Offset: int64(s.pos)}
}

func (s *scanner) at(err *SyntaxError, pos int) *SyntaxError {
	err.Offset = int64(pos)
	return err
}

func (s *scanner) unexpected(what string) *SyntaxError {
	if s.pos >= len(s.src) {
		return s.errorf("unexpected EOF, expected " + what)
	}
	r, _ := utf8.DecodeRune(s.src[s.pos:])
	return s.errorf("invalid character " + strconv.QuoteRune(r) + ", expected " + what)
}

func (s *scanner) document() *SyntaxError {
	if bytes.HasPrefix(s.src, []byte("\xEF\xBB\xBF")) {
		s.pos = 3
	}
	if bytes.HasPrefix(s.src[s.pos:], []byte("<?xml")) && s.pos+5 < len(s.src) && isSpaceByte(s.src[s.pos+5]) {
		if err := s.declaration(); err != nil {
			return err
		}
	}
	src := s.src
	for s.pos < len(src) {
		if src[s.pos] != '<' {
			if err := s.text(); err != nil {
				return err
			}
			continue
		}
		start := s.pos
		if s.pos+1 >= len(src) {
			s.pos++
			return s.unexpected("markup after <")
		}
		var err *SyntaxError
		switch src[s.pos+1] {
		case '/':
			err = s.endTag()
		case '?':
			err = s.procInst()
		case '!':
			switch rest := src[s.pos+2:]; {
			case bytes.HasPrefix(rest, []byte("--")):
				err = s.comment()
			case bytes.HasPrefix(rest, []byte("[CDATA[")):
				err = s.cdata()
			case bytes.HasPrefix(rest, []byte("DOCTYPE")):
				return s.errorf(ErrDoctype.Error()).wrap(ErrDoctype)
			default:
				end := min(len(src), s.pos+16)
				return s.errorf("unsupported markup " + strconv.Quote(string(src[s.pos:end])))
			}
		default:
			err = s.startTag()
		}
		if err != nil {
			if err.Offset == 0 {
				err.Offset = int64(start)
			}
			return err
		}
	}
	if err := s.b.endDocument(); err != nil {
		return s.at(err, len(src))
	}
	return nil
}

func (e *SyntaxError) wrap(err error) *SyntaxError {
	e.Err = err
	return e
}

// declaration checks the XML declaration at s.pos: version 1.0, if given,
// and encoding UTF-8, if given.
func (s *scanner) declaration() *SyntaxError {
	end := bytes.Index(s.src[s.pos:], []byte("?>"))
	if end < 0 {
		return s.errorf("unterminated XML declaration")
	}
	decl := s.src[s.pos+5 : s.pos+end]
	if v, ok := pseudoAttr(decl, "version"); ok && string(v) != "1.0" {
		return s.errorf("unsupported XML version " + strconv.Quote(string(v)) + "; only 1.0 is supported")
	}
	if v, ok := pseudoAttr(decl, "encoding"); ok && !bytes.EqualFold(v, []byte("utf-8")) {
		return s.errorf("unsupported encoding " + strconv.Quote(string(v)) + "; only UTF-8 is supported")
	}
	if !utf8.Valid(decl) {
		return s.errorf("invalid UTF-8")
	}
	s.pos += end + 2
	return nil
}

// pseudoAttr returns the value of name="value" or name='value' in decl.
func pseudoAttr(decl []byte, name string) ([]byte, bool) {
	i := bytes.Index(decl, []byte(name))
	if i < 0 {
		return nil, false
	}
	rest := bytes.TrimLeft(decl[i+len(name):], " \t\r\n")
	if len(rest) == 0 || rest[0] != '=' {
		return nil, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' && rest[0] != '\'' {
		return nil, false
	}
	end := bytes.IndexByte(rest[1:], rest[0])
	if end < 0 {
		return nil, false
	}
	return rest[1 : 1+end], true
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.src) && isSpaceByte(s.src[s.pos]) {
		s.pos++
	}
}

// name scans an XML name at s.pos. At most one colon is allowed.
func (s *scanner) name() ([]byte, *SyntaxError) {
	src, start := s.src, s.pos
	i, colons := start, 0
	for i < len(src) {
		c := src[i]
		cl, n := nameClass(0), 1
		switch {
		case c == ':':
			cl = nameStart
			colons++
		case c == '_':
			cl = nameStart
		case c < utf8.RuneSelf:
			cl = nameClass(asciiName[c])
		default:
			var r rune
			r, n = utf8.DecodeRune(src[i:])
			if r != utf8.RuneError || n > 1 {
				cl = classOf(r)
			}
		}
		if cl == 0 || cl == nameChar && i == start {
			break
		}
		i += n
	}
	if i == start {
		return nil, s.unexpected("name")
	}
	s.pos = i
	if colons > 1 {
		return nil, s.at(s.errorf("invalid name "+strconv.Quote(string(src[start:i]))+": more than one colon"), start)
	}
	return src[start:i], nil
}

func (s *scanner) startTag() *SyntaxError {
	s.pos++ // '<'
	name, err := s.name()
	if err != nil {
		return err
	}
	if err := s.b.startElement(name); err != nil {
		return err
	}
	s.att = s.att[:0]
	s.attSet = nil
	for {
		hadSpace := s.pos < len(s.src) && isSpaceByte(s.src[s.pos])
		s.skipSpace()
		if s.pos >= len(s.src) {
			return s.unexpected("'>'")
		}
		switch s.src[s.pos] {
		case '>':
			s.pos++
			return nil
		case '/':
			if s.pos+1 < len(s.src) && s.src[s.pos+1] == '>' {
				s.pos += 2
				return s.b.endElement(name)
			}
			s.pos++
			return s.unexpected("'>' after '/'")
		}
		if !hadSpace {
			return s.unexpected("whitespace, '>' or '/>'")
		}
		at := s.pos
		aname, err := s.name()
		if err != nil {
			return err
		}
		if s.duplicate(aname) {
			return s.at(s.errorf("duplicate attribute "+string(aname)), at)
		}
		s.skipSpace()
		if s.pos >= len(s.src) || s.src[s.pos] != '=' {
			return s.unexpected("'=' after attribute name")
		}
		s.pos++
		s.skipSpace()
		if s.pos >= len(s.src) || s.src[s.pos] != '"' && s.src[s.pos] != '\'' {
			return s.unexpected("quoted attribute value")
		}
		lo := len(s.b.text)
		if err := s.attrValue(); err != nil {
			return err
		}
		s.b.attribute(aname, lo)
	}
}

// duplicate reports whether name was already seen in the current start
// tag, and records it.
func (s *scanner) duplicate(name []byte) bool {
	if s.attSet != nil {
		if _, ok := s.attSet[string(name)]; ok {
			return true
		}
		s.attSet[string(name)] = struct{}{}
		return false
	}
	for _, a := range s.att {
		if bytes.Equal(a, name) {
			return true
		}
	}
	s.att = append(s.att, name)
	if len(s.att) > 16 {
		s.attSet = make(map[string]struct{})
		for _, a := range s.att {
			s.attSet[string(a)] = struct{}{}
		}
	}
	return false
}

// cdata scans a CDATA section at s.pos.
func (s *scanner) cdata() *SyntaxError {
	lo := s.pos + len("<![CDATA[")
	end := bytes.Index(s.src[lo:], []byte("]]>"))
	if end < 0 {
		s.pos = len(s.src)
		return s.unexpected("]]> to end CDATA section")
	}
	hi := lo + end
	if err := s.checkChars(lo, hi); err != nil {
		return err
	}
	s.pos = hi + 3
	data := s.src[lo:hi]
	if len(s.b.open) == 0 {
		return s.at(s.errorf("CDATA section outside the root element"), lo)
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\r')
		if i < 0 {
			return s.b.charData(data)
		}
		if err := s.b.charData(data[:i]); err != nil {
			return err
		}
		s.buf = append(s.buf[:0], '\n')
		if err := s.b.charData(s.buf); err != nil {
			return err
		}
		data = data[i+1:]
		if len(data) > 0 && data[0] == '\n' {
			data = data[1:]
		}
	}
	return nil
}

// comment skips a comment at s.pos.
func (s *scanner) comment() *SyntaxError {
	lo := s.pos + len("<!--")
	end := bytes.Index(s.src[lo:], []byte("--"))
	if end < 0 {
		s.pos = len(s.src)
		return s.unexpected("--> to end comment")
	}
	hi := lo + end
	if hi+2 >= len(s.src) || s.src[hi+2] != '>' {
		s.pos = hi
		return s.errorf(`"--" not allowed in comments`)
	}
	if err := s.checkChars(lo, hi); err != nil {
		return err
	}
	s.pos = hi + 3
	return nil
}

// procInst skips a processing instruction at s.pos.
func (s *scanner) procInst() *SyntaxError {
	s.pos += 2
	at := s.pos
	target, err := s.name()
	if err != nil {
		return err
	}
	if bytes.EqualFold(target, []byte("xml")) {
		return s.at(s.errorf("XML declaration not at the start of the document"), at)
	}
	if s.pos < len(s.src) && !isSpaceByte(s.src[s.pos]) && s.src[s.pos] != '?' {
		return s.unexpected("whitespace or ?> after processing instruction target")
	}
	end := bytes.Index(s.src[s.pos:], []byte("?>"))
	if end < 0 {
		s.pos = len(s.src)
		return s.unexpected("?> to end processing instruction")
	}
	hi := s.pos + end
	if err := s.checkChars(s.pos, hi); err != nil {
		return err
	}
	s.pos = hi + 2
	return nil
}

func (s *scanner) endTag() *SyntaxError {
	s.pos += 2
	name, err := s.name()
	if err != nil {
		return err
	}
	s.skipSpace()
	if s.pos >= len(s.src) || s.src[s.pos] != '>' {
		return s.unexpected("'>' to end end tag")
	}
	s.pos++
	return s.b.endElement(name)
}
