package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type odataDetail struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	PropertyRef string `json:"propertyref"`
	Severity    string `json:"severity"`
	Target      string `json:"target"`
}

// odataError writes an OData V2 error:
// {"error":{"code","message":{"lang":"en","value"},"innererror":{...}}}.
func odataError(w http.ResponseWriter, status int, code, message string, details []odataDetail) {
	if details == nil {
		details = []odataDetail{}
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": map[string]string{"lang": "en", "value": message},
		"innererror": map[string]any{
			"application": map[string]string{
				"component_id": "CEC-MKT-DM-IC", "service_namespace": "/SAP/",
				"service_id": "CUAN_IMPORT_SRV", "service_version": "0001",
			},
			"transactionid": strings.ToUpper(randomHex(16)),
			"timestamp":     time.Now().UTC().Format("20060102150405.0000000"),
			"errordetails":  details,
		},
	}})
}

type kind int

const (
	kString kind = iota
	kDate        // "/Date(ms)/"
	kNumber      // a JSON number (Edm.Decimal, Edm.Double)
	kBool
	kNav // a deep-insert navigation property: an array of objects
)

type propSpec struct {
	kind     kind
	max      int // characters, for kString
	required bool
}

var headerProps = map[string]propSpec{
	"Id":               {kind: kString, max: 32},
	"Timestamp":        {kind: kDate},
	"UserName":         {kind: kString, max: 12},
	"SourceSystemType": {kind: kString, max: 20, required: true},
	"SourceSystemId":   {kind: kString, max: 255, required: true},
	"Contacts":         {kind: kNav},
	"Interactions":     {kind: kNav},
}

var contactProps = map[string]propSpec{
	"Id":                {kind: kString, max: 255, required: true},
	"IdOrigin":          {kind: kString, max: 20, required: true},
	"Timestamp":         {kind: kDate, required: true},
	"FullName":          {kind: kString, max: 80},
	"FirstName":         {kind: kString, max: 40},
	"LastName":          {kind: kString, max: 40},
	"MiddleName":        {kind: kString, max: 40},
	"Title":             {kind: kString, max: 4},
	"AcademicTitle":     {kind: kString, max: 4},
	"DateOfBirth":       {kind: kDate},
	"GenderCode":        {kind: kString, max: 1},
	"Language":          {kind: kString, max: 2},
	"Country":           {kind: kString, max: 3},
	"Region":            {kind: kString, max: 3},
	"City":              {kind: kString, max: 40},
	"PostalCode":        {kind: kString, max: 10},
	"Street":            {kind: kString, max: 60},
	"HouseNumber":       {kind: kString, max: 10},
	"EMailAddress":      {kind: kString, max: 241},
	"EMailOptIn":        {kind: kString, max: 1},
	"PhoneNumber":       {kind: kString, max: 30},
	"PhoneOptIn":        {kind: kString, max: 1},
	"MobilePhoneNumber": {kind: kString, max: 30},
	"MobileOptIn":       {kind: kString, max: 1},
	"Company":           {kind: kString, max: 80},
	"Department":        {kind: kString, max: 40},
	"Function":          {kind: kString, max: 40},
	"Industry":          {kind: kString, max: 10},
	"Latitude":          {kind: kNumber},
	"Longitude":         {kind: kNumber},
	"IsConsumer":        {kind: kBool},
}

var interactionProps = map[string]propSpec{
	"Key":                       {kind: kString, max: 32, required: true},
	"ContactId":                 {kind: kString, max: 255, required: true},
	"ContactIdOrigin":           {kind: kString, max: 20, required: true},
	"CommunicationMedium":       {kind: kString, max: 20, required: true},
	"InteractionType":           {kind: kString, max: 20, required: true},
	"Timestamp":                 {kind: kDate, required: true},
	"SourceObjectType":          {kind: kString, max: 30},
	"SourceObjectId":            {kind: kString, max: 255},
	"SourceSystemType":          {kind: kString, max: 20},
	"SourceSystemId":            {kind: kString, max: 255},
	"Quantifier":                {kind: kNumber},
	"Amount":                    {kind: kNumber},
	"Currency":                  {kind: kString, max: 5},
	"ContentTitle":              {kind: kString, max: 255},
	"ContentData":               {kind: kString, max: 1 << 20},
	"InteractionReason":         {kind: kString, max: 20},
	"InteractionSentimentValue": {kind: kNumber},
	"DeviceType":                {kind: kString, max: 20},
	"WebSiteURL":                {kind: kString, max: 255},
	"LanguageCode":              {kind: kString, max: 2},
	"MarketingArea":             {kind: kString, max: 40},
	"Latitude":                  {kind: kNumber},
	"Longitude":                 {kind: kNumber},
}

var (
	odataDatePattern = regexp.MustCompile(`^/Date\((-?\d{1,15})([+-]\d{4})?\)/$`)
	originPattern    = regexp.MustCompile(`^[A-Z0-9_]{1,20}$`)
	countryPattern   = regexp.MustCompile(`^[A-Z]{2,3}$`)
)

// ParseODataDate decodes "/Date(ms)/" (optionally with an offset, which
// does not change the instant) to UTC.
func ParseODataDate(s string) (time.Time, bool) {
	m := odataDatePattern.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// validator collects OData error details.
type validator struct{ details []odataDetail }

func (v *validator) add(code, target, format string, args ...any) {
	prop := target
	if i := strings.LastIndex(target, "/"); i >= 0 {
		prop = target[i+1:]
	}
	v.details = append(v.details, odataDetail{
		Code: code, Message: fmt.Sprintf(format, args...), PropertyRef: prop, Severity: "error", Target: target,
	})
}

// object checks one entity against specs; path names it in messages
// ("ImportHeader", "Contacts(0)").
func (v *validator) object(obj map[string]any, specs map[string]propSpec, path string) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "__metadata" {
			continue
		}
		if _, ok := specs[k]; !ok {
			v.add("CUAN_IMPORT/UNKNOWN_PROPERTY", path+"/"+k, "Property '%s' is invalid: %s has no such property", k, path)
		}
	}
	names := make([]string, 0, len(specs))
	for k := range specs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		spec := specs[k]
		val, present := obj[k]
		target := path + "/" + k
		if !present || val == nil {
			if spec.required {
				v.add("CUAN_IMPORT/MISSING_PROPERTY", target, "Property '%s' is required", k)
			}
			continue
		}
		switch spec.kind {
		case kString:
			s, ok := val.(string)
			if !ok {
				v.add("CUAN_IMPORT/INVALID_TYPE", target, "Property '%s' has an invalid value: expected Edm.String, got %s", k, jsonKind(val))
				continue
			}
			if spec.required && strings.TrimSpace(s) == "" {
				v.add("CUAN_IMPORT/MISSING_PROPERTY", target, "Property '%s' is required and must not be empty", k)
				continue
			}
			if n := utf8.RuneCountInString(s); n > spec.max {
				v.add("CUAN_IMPORT/VALUE_TOO_LONG", target, "Property '%s' is %d characters long; at most %d are allowed", k, n, spec.max)
			}
		case kDate:
			s, ok := val.(string)
			if !ok {
				v.add("CUAN_IMPORT/INVALID_TYPE", target, "Property '%s' has an invalid value: expected Edm.DateTime as \"/Date(<ms>)/\", got %s", k, jsonKind(val))
				continue
			}
			if _, ok := ParseODataDate(s); !ok {
				v.add("CUAN_IMPORT/INVALID_DATE", target, "Property '%s' has an invalid value %q: expected \"/Date(<ms>)/\"", k, s)
			}
		case kNumber:
			if _, ok := val.(json.Number); !ok {
				v.add("CUAN_IMPORT/INVALID_TYPE", target, "Property '%s' has an invalid value: expected Edm.Decimal as a JSON number, got %s", k, jsonKind(val))
			}
		case kBool:
			if _, ok := val.(bool); !ok {
				v.add("CUAN_IMPORT/INVALID_TYPE", target, "Property '%s' has an invalid value: expected Edm.Boolean, got %s", k, jsonKind(val))
			}
		case kNav:
			// checked by the caller
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

// list reads a deep-insert navigation property: an array of objects, or
// OData's {"results": [...]}.
func (v *validator) list(val any, name string) []map[string]any {
	if val == nil {
		return nil
	}
	if obj, ok := val.(map[string]any); ok {
		if r, ok := obj["results"]; ok && len(obj) == 1 {
			val = r
		}
	}
	arr, ok := val.([]any)
	if !ok {
		v.add("CUAN_IMPORT/INVALID_TYPE", "ImportHeader/"+name, "Navigation property '%s' must be an array of entities, got %s", name, jsonKind(val))
		return nil
	}
	out := make([]map[string]any, 0, len(arr))
	for i, e := range arr {
		obj, ok := e.(map[string]any)
		if !ok {
			v.add("CUAN_IMPORT/INVALID_TYPE", fmt.Sprintf("%s(%d)", name, i), "%s(%d) must be an object, got %s", name, i, jsonKind(e))
			continue
		}
		out = append(out, obj)
	}
	return out
}

func str(obj map[string]any, k string) string {
	s, _ := obj[k].(string)
	return s
}

func (m *MarketingCloud) importHeaders(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		odataError(w, http.StatusUnsupportedMediaType, "/IWBEP/CM_MGW_RT/004",
			"Content-Type must be application/json for this sandbox, got "+strconv.Quote(r.Header.Get("Content-Type")), nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10<<20))
	if err != nil {
		odataError(w, http.StatusRequestEntityTooLarge, "/IWBEP/CM_MGW_RT/004", "Request body too large or unreadable: "+err.Error(), nil)
		return
	}
	reject := func(code, msg string, details []odataDetail) {
		m.mu.Lock()
		m.stats.Rejected++
		m.mu.Unlock()
		odataError(w, http.StatusBadRequest, code, msg, details)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		reject("CUAN_IMPORT/MALFORMED", "Malformed JSON in the request body: "+err.Error(), nil)
		return
	}
	if dec.More() {
		reject("CUAN_IMPORT/MALFORMED", "Malformed JSON in the request body: data after the ImportHeader object", nil)
		return
	}
	if d, ok := doc.(map[string]any); ok && len(d) == 1 && d["d"] != nil {
		doc = d["d"] // OData V2 verbose wrapper
	}
	header, ok := doc.(map[string]any)
	if !ok {
		reject("CUAN_IMPORT/MALFORMED", "The request body must be one ImportHeader object, got "+jsonKind(doc), nil)
		return
	}

	v := &validator{}
	v.object(header, headerProps, "ImportHeader")
	contacts := v.list(header["Contacts"], "Contacts")
	interactions := v.list(header["Interactions"], "Interactions")
	if len(contacts) == 0 && len(interactions) == 0 && len(v.details) == 0 {
		v.add("CUAN_IMPORT/NO_DATA", "ImportHeader", "The import contains no Contacts and no Interactions")
	}
	for i, c := range contacts {
		path := fmt.Sprintf("Contacts(%d)", i)
		v.object(c, contactProps, path)
		if o := str(c, "IdOrigin"); o != "" && !originPattern.MatchString(o) {
			v.add("CUAN_IMPORT/INVALID_VALUE", path+"/IdOrigin", "ID origin '%s' is not defined (origins are 1 to 20 of A-Z, 0-9, _)", o)
		}
		if co := str(c, "Country"); co != "" && !countryPattern.MatchString(co) {
			v.add("CUAN_IMPORT/INVALID_VALUE", path+"/Country", "Country '%s' is not a valid country key", co)
		}
	}
	for i, it := range interactions {
		path := fmt.Sprintf("Interactions(%d)", i)
		v.object(it, interactionProps, path)
		if o := str(it, "ContactIdOrigin"); o != "" && !originPattern.MatchString(o) {
			v.add("CUAN_IMPORT/INVALID_VALUE", path+"/ContactIdOrigin", "ID origin '%s' is not defined (origins are 1 to 20 of A-Z, 0-9, _)", o)
		}
		if cm := str(it, "CommunicationMedium"); cm != "" && !slices.Contains(m.opts.CommunicationMedia, cm) {
			v.add("CUAN_IMPORT/INVALID_VALUE", path+"/CommunicationMedium", "Communication medium '%s' is not defined", cm)
		}
		if t := str(it, "InteractionType"); t != "" && !slices.Contains(m.opts.InteractionTypes, t) {
			v.add("CUAN_IMPORT/INVALID_VALUE", path+"/InteractionType", "Interaction type '%s' is not defined", t)
		}
	}
	if len(v.details) > 0 {
		first := v.details[0]
		msg := first.Target + ": " + first.Message
		if len(v.details) > 1 {
			msg += fmt.Sprintf(" (and %d more errors)", len(v.details)-1)
		}
		reject(first.Code, msg, v.details)
		return
	}

	// Valid: apply everything (all or nothing).
	m.mu.Lock()
	now := m.opts.Now().UTC()
	m.seq++
	id := str(header, "Id")
	if id == "" {
		id = strings.ToUpper(randomHex(16))
	}
	for _, c := range contacts {
		m.upsertContactLocked(c, now)
	}
	for _, it := range interactions {
		m.upsertInteractionLocked(it, header, now)
	}
	m.stats.Imports++
	m.mu.Unlock()

	base := "http://" + r.Host + ServicePath
	uri := base + "ImportHeaders('" + id + "')"
	out := map[string]any{
		"__metadata":       map[string]string{"id": uri, "uri": uri, "type": "CUAN_IMPORT_SRV.ImportHeader"},
		"Id":               id,
		"Timestamp":        fmt.Sprintf("/Date(%d)/", now.UnixMilli()),
		"SourceSystemType": header["SourceSystemType"],
		"SourceSystemId":   header["SourceSystemId"],
	}
	if header["Contacts"] != nil {
		out["Contacts"] = map[string]any{"results": contacts}
	}
	if header["Interactions"] != nil {
		out["Interactions"] = map[string]any{"results": interactions}
	}
	w.Header().Set("Location", uri)
	w.Header().Set("DataServiceVersion", "2.0")
	writeJSON(w, http.StatusCreated, map[string]any{"d": out})
}

func (m *MarketingCloud) upsertContactLocked(in map[string]any, now time.Time) {
	key := str(in, "IdOrigin") + "\x00" + str(in, "Id")
	c := m.contacts[key]
	if c == nil {
		c = &Contact{ID: str(in, "Id"), IDOrigin: str(in, "IdOrigin"), FirstImported: now}
		m.contacts[key] = c
		m.stats.ContactsCreated++
	} else {
		m.stats.ContactsUpdated++
	}
	c.Implicit = false
	c.Imports++
	c.LastImported = now
	for k, val := range in {
		if val == nil || k == "__metadata" {
			continue
		}
		s, _ := val.(string)
		switch k {
		case "Id", "IdOrigin":
		case "Timestamp":
			c.Timestamp = s
		case "FirstName":
			c.FirstName = s
		case "LastName":
			c.LastName = s
		case "FullName":
			c.FullName = s
		case "Country":
			c.Country = s
		case "City":
			c.City = s
		case "DateOfBirth":
			c.DateOfBirth = s
		case "EMailAddress":
			c.EMail = s
		default:
			if c.Other == nil {
				c.Other = map[string]any{}
			}
			c.Other[k] = val
		}
	}
}

func (m *MarketingCloud) upsertInteractionLocked(in, header map[string]any, now time.Time) {
	key := str(in, "Key")
	it := m.interactions[key]
	if it == nil {
		it = &Interaction{Key: key, FirstImported: now}
		m.interactions[key] = it
		m.stats.InteractionsNew++
	} else {
		m.stats.InteractionsUpd++
	}
	imports, first := it.Imports, it.FirstImported
	*it = Interaction{
		Key: key, ContactID: str(in, "ContactId"), ContactIDOrigin: str(in, "ContactIdOrigin"),
		CommunicationMedium: str(in, "CommunicationMedium"), InteractionType: str(in, "InteractionType"),
		Timestamp: str(in, "Timestamp"), SourceObjectType: str(in, "SourceObjectType"), SourceObjectID: str(in, "SourceObjectId"),
		SourceSystemType: str(in, "SourceSystemType"), SourceSystemID: str(in, "SourceSystemId"),
		Imports: imports + 1, FirstImported: first, LastImported: now,
	}
	it.Time, _ = ParseODataDate(it.Timestamp)
	if it.SourceSystemType == "" {
		it.SourceSystemType = str(header, "SourceSystemType")
	}
	if it.SourceSystemID == "" {
		it.SourceSystemID = str(header, "SourceSystemId")
	}
	if n, ok := in["Quantifier"].(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			it.Quantifier = &f
		}
	}
	for k, val := range in {
		if _, known := interactionFieldSet[k]; known || val == nil || k == "__metadata" {
			continue
		}
		if it.Other == nil {
			it.Other = map[string]any{}
		}
		it.Other[k] = val
	}
	ckey := it.ContactIDOrigin + "\x00" + it.ContactID
	if m.contacts[ckey] == nil {
		// Marketing Cloud creates a contact it does not know from the
		// interaction's contact ID.
		m.contacts[ckey] = &Contact{ID: it.ContactID, IDOrigin: it.ContactIDOrigin, Implicit: true, FirstImported: now, LastImported: now}
	}
}

var interactionFieldSet = map[string]struct{}{
	"Key": {}, "ContactId": {}, "ContactIdOrigin": {}, "CommunicationMedium": {}, "InteractionType": {},
	"Timestamp": {}, "SourceObjectType": {}, "SourceObjectId": {}, "SourceSystemType": {}, "SourceSystemId": {}, "Quantifier": {},
}
