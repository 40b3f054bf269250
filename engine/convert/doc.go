// Package convert converts between JSON and XML documents.
//
// The mapping follows the convention of SAP Cloud Integration's JSON and
// XML converters, but accepts any JSON key, preserves JSON key order, and
// refuses XML document type declarations. The same convention is used in
// both directions, so that JSON → XML → JSON gives back the original
// document except where noted below.
//
// # Mapping
//
// An XML element is a JSON member whose key is the element name:
//
//   - An element with neither attributes nor child elements is a plain
//     value: <a>x</a> is "a": "x", and the empty element <a/> is "a": "".
//   - Otherwise it is an object. Each attribute is a member whose key is
//     the attribute name prefixed with "@", and the element's text, if
//     any, is the member "#text". Its child elements are members too.
//   - Sibling elements with the same name are one member whose value is
//     an array of their values, in document order.
//
// # JSON to XML
//
// JSONToXML writes the members of an object as child elements in the
// order of the document. A member whose value is an array of N items
// becomes N elements of the member's name; an empty array writes nothing.
// An item that is itself an array becomes one element of the member's
// name whose content is one element per inner item, named by
// JSONToXMLOptions.Item ("item" by default):
//
//	{"k":[1,[2,3],[]]}  →  <k>1</k><k><item>2</item><item>3</item></k><k/>
//
// A member whose key starts with "@" and whose value is a string, number,
// boolean or null becomes an attribute of the enclosing element (null is
// the empty string), wherever it appears among the members. A member
// "#text" with such a value becomes text at its position among the child
// elements. Any other member whose key starts with "@" or is "#text",
// because its value is an object or an array, is an ordinary element.
// Two attribute members of one object with the same name are an error.
//
// Strings are written as text with &, < and > escaped, and in attribute
// values also ", tab and newline; carriage returns are always written as
// &#xD;, so that XML parsers do not normalise them away. Characters that
// XML 1.0 cannot represent at all (U+0000–U+0008, U+000B, U+000C,
// U+000E–U+001F, U+FFFE, U+FFFF, lone surrogates from \u escapes) and
// invalid UTF-8 are replaced by U+FFFD. Numbers are written exactly as in
// the source ("1e3" stays "1e3"), booleans as true and false. null, "",
// and {} are written as an empty element <a/>; they all read back as "".
//
// The root element is chosen as follows:
//
//   - If JSONToXMLOptions.Root is set, it wraps the whole document.
//   - Otherwise, if the document is an object with exactly one member and
//     the member's value is an object or a scalar (and the member is not
//     an attribute or "#text"), that member is the root element:
//     {"order":{"id":1}} becomes <order><id>1</id></order>.
//   - Otherwise (an array, a scalar, an object with zero or several
//     members, or one member whose value is an array) the document is
//     wrapped in <root>. The items of a top-level array are elements
//     named by JSONToXMLOptions.Item.
//
// The output has no XML declaration unless
// JSONToXMLOptions.Declaration is set, and no whitespace between
// elements.
//
// # Names
//
// Any JSON key is accepted. A key that is not a valid XML name is encoded
// reversibly, in the manner of .NET's XmlConvert.EncodeName:
//
//   - A character that may not appear at its position in a name becomes
//     _xHHHH_: "_x", the code point in upper-case hexadecimal with at
//     least four digits, and "_". So "a b" is a_x0020_b, "1st" is
//     _x0031_st (a name cannot start with a digit, "-" or "."), and
//     "€" is _x20AC_.
//   - Every "_" that is followed by "x" becomes _x005F_, so that "_x"
//     in an encoded name always starts an escape: "_x0041_" is
//     _x005F_x0041_ and "max_x" is max_x005F_x.
//   - A colon is kept only if the key has exactly one colon with text on
//     both sides ("ns:elem", a qualified name); otherwise it is _x003A_.
//   - The empty key is the name _x_, which no other key produces.
//
// Attribute names are the keys without their "@", encoded the same way.
// Valid names are those allowed both by XML 1.0 (fifth edition) and by
// encoding/xml, which implements the stricter fourth edition; for example
// "ü" and "名前" are kept as they are. XMLToJSON decodes every _xHHHH_
// (four to six hexadecimal digits of either case, denoting a Unicode
// scalar value) and the name _x_, so key names survive a round trip
// exactly; any other "_x" in a name is taken literally.
//
// # XML to JSON
//
// XMLToJSON returns {"name": value} for the root element, or only the
// value with XMLToJSONOptions.DropRoot. Members appear in the order in
// which their keys first occur in the document: attributes first, then
// child elements and "#text". An element listed in
// XMLToJSONOptions.ArrayPaths is always an array, even if it occurs once.
// Attribute and element names are used as written, including any
// namespace prefix ("ns:elem"), and namespace declarations are ordinary
// attributes ("@xmlns", "@xmlns:ns"); names are decoded as described
// above. Should two members get the same key (the attribute a and the
// element _x0040_a are both "@a"), their values are merged into one array
// in document order, so no key is repeated.
//
// Text is the concatenation of character data, CDATA sections, and
// references, with line ends normalised to "\n" as XML requires; in
// attribute values each literal tab or line end also becomes a space
// (write &#x9; or &#xA; to keep one, as JSONToXML does). In an element that has child elements, runs of text that
// consist only of whitespace are ignored, and the other runs are joined
// into one "#text" member placed where the first of them occurs. In an
// element without child elements, text is kept exactly, whitespace
// included. Comments and processing instructions are dropped. All values
// are strings unless XMLToJSONOptions.Typed is set.
//
// What does not survive JSON → XML → JSON: an array of one item becomes
// a single value (and an empty array disappears) unless listed in
// ArrayPaths; null and {} become ""; arrays of arrays become objects with
// "item" members; several "#text" members, or "#text" mixed with
// elements, lose their positions; without Typed, numbers and booleans
// become strings, and with it, strings that look like numbers or booleans
// become numbers or booleans; the wrapping <root> element appears as a
// member unless DropRoot is set.
//
// # Limits and errors
//
// XMLToJSON accepts well-formed XML 1.0 in UTF-8 (an XML declaration, if
// present, must be at the very start and may only declare version 1.0 and
// encoding UTF-8; a byte order mark is skipped) without a document type
// declaration. Names must use the characters described under Names. A document containing <!DOCTYPE is rejected with an error
// wrapping ErrDoctype, so no entity is ever declared, read, or expanded;
// only the five predefined entities (&lt; &gt; &amp; &apos; &quot;) and
// character references are accepted. Input of either kind nested more
// than MaxDepth levels deep is rejected with an error wrapping
// ErrTooDeep. (An XML document can be one level deeper than the JSON it
// was made from, as scalars become elements, so JSON nested exactly
// MaxDepth deep may not convert back.) Malformed input is reported as a *SyntaxError giving the
// byte offset (and, for XML, the line) where it was detected. Neither
// function panics, and on error neither writes to its destination.
package convert
