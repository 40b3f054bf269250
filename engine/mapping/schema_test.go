package mapping_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The JSON Schemas of schemas/ describe the payloads the shipped flows
// exchange: they accept the contract's samples and reject with paths.

// schemaFor names the schema of each sample payload; "" means the sample
// is no payload the flows map (an error or an OAuth answer).
var schemaFor = map[string]string{
	"fitbit/profile.json":                         "fitbit-profile.schema.json",
	"fitbit/daily-activity-summary.json":          "fitbit-daily-activity-summary.schema.json",
	"fitbit/notification-multiple.json":           "fitbit-notification.schema.json",
	"fitbit/token-response.json":                  "",
	"fitbit/error-expired-token.json":             "",
	"fitbit/subscription-created.json":            "",
	"google-health/error-unauthenticated.json":    "",
	"google-health/error-resource-exhausted.json": "",
	"google-health/daily-rollup.json":             "google-health-daily-rollup.schema.json",
	"google-health/notification.json":             "google-health-notification.schema.json",
	"mkc/import-headers-contact.json":             "mkc-import-headers.schema.json",
	"mkc/import-headers-interaction.json":         "mkc-import-headers.schema.json",

	// The copies and variants in testdata.
	"testdata/fitbit-profile.json":                 "fitbit-profile.schema.json",
	"testdata/fitbit-profile-ada.json":             "fitbit-profile.schema.json",
	"testdata/fitbit-profile-minimal.json":         "fitbit-profile.schema.json",
	"testdata/fitbit-daily-activity-summary.json":  "fitbit-daily-activity-summary.schema.json",
	"testdata/fitbit-notification-multiple.json":   "fitbit-notification.schema.json",
	"testdata/google-health-daily-rollup.json":     "google-health-daily-rollup.schema.json",
	"testdata/google-health-notification.json":     "google-health-notification.schema.json",
	"testdata/google-health-verification.json":     "google-health-notification.schema.json",
	"testdata/mkc-import-headers-contact.json":     "mkc-import-headers.schema.json",
	"testdata/mkc-import-headers-interaction.json": "mkc-import-headers.schema.json",
	"testdata/profile-contact.golden.json":         "mkc-import-headers.schema.json",
	"testdata/activity-interaction.golden.json":    "mkc-import-headers.schema.json",
}

var schemaCache sync.Map

func payloadSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	if s, ok := schemaCache.Load(name); ok {
		return s.(*jsonschema.Schema)
	}
	path, err := filepath.Abs(filepath.Join("..", "..", "schemas", name))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("%s does not compile: %v", name, err)
	}
	schemaCache.Store(name, s)
	return s
}

func validateFile(t *testing.T, schema, path string) error {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return payloadSchema(t, schema).Validate(inst)
}

func TestPayloadSchemasAcceptTheSamples(t *testing.T) {
	// The testdata copies always; the shared samples when the checkout has
	// them beside the repository.
	var files []string
	local, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, f := range local {
		if strings.HasSuffix(f, ".golden.json") && !strings.Contains(f, "contact") && !strings.Contains(f, "interaction") {
			continue
		}
		files = append(files, f)
	}
	shared := filepath.Join("..", "..", "..", "shared", "samples")
	sharedFiles, _ := filepath.Glob(filepath.Join(shared, "*", "*.json"))
	files = append(files, sharedFiles...)
	if len(sharedFiles) == 0 {
		t.Logf("no shared samples at %s: checking the testdata copies only", shared)
	}
	checked := 0
	for _, f := range files {
		key := filepath.ToSlash(f)
		if !strings.HasPrefix(key, "testdata/") {
			rel, _ := filepath.Rel(shared, f)
			key = filepath.ToSlash(rel)
		}
		schema, ok := schemaFor[key]
		if !ok {
			t.Errorf("%s: which schema describes this sample? add it to schemaFor", f)
			continue
		}
		if schema == "" {
			continue
		}
		if err := validateFile(t, schema, f); err != nil {
			t.Errorf("%s does not match %s:\n%v", f, schema, err)
		}
		checked++
	}
	if checked < 12 {
		t.Errorf("checked only %d samples", checked)
	}
}

func TestPayloadSchemasRejectWithPaths(t *testing.T) {
	cases := []struct{ schema, doc, want string }{
		{"mkc-import-headers.schema.json", `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S","Interactions":[{"Key":"k","ContactId":"c","ContactIdOrigin":"FITBIT","CommunicationMedium":"WEB","InteractionType":"T","Timestamp":"/Date(1)/","Quantifier":"15720"}]}`,
			"/Interactions/0/Quantifier: got string, want number"},
		{"mkc-import-headers.schema.json", `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S","Interactions":[{"Key":"k","ContactId":"c","ContactIdOrigin":"FITBIT","CommunicationMedium":"WEB","InteractionType":"T","Timestamp":"2025-11-22"}]}`,
			"/Interactions/0/Timestamp: "},
		{"mkc-import-headers.schema.json", `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S","Contacts":[{"Id":"x","IdOrigin":"FITBIT","Timestamp":"/Date(1)/"}],"Interactions":[{"Key":"k","ContactId":"c","ContactIdOrigin":"FITBIT","CommunicationMedium":"WEB","InteractionType":"T","Timestamp":"/Date(1)/"}]}`,
			"/: "},
		{"mkc-import-headers.schema.json", `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S"}`, "/: "},
		{"fitbit-notification.schema.json", `[{"collectionType":"steps","date":"2012-05-24","ownerId":"X","ownerType":"user","subscriptionId":"1"}]`,
			"/0/collectionType: "},
		{"fitbit-notification.schema.json", `[{"collectionType":"activities","ownerId":"X","ownerType":"user","subscriptionId":"1"}]`,
			"/0: missing property 'date'"},
		{"fitbit-notification.schema.json", `[{"collectionType":"userRevokedAccess","ownerId":"X","ownerType":"user","subscriptionId":"1"},{}]`,
			"/1: missing properties"},
		{"fitbit-profile.schema.json", `{"user":{"fullName":"A"}}`, "/user: missing property 'encodedId'"},
		{"fitbit-daily-activity-summary.schema.json", `{"activities":[],"summary":{"steps":"15720"}}`, "/summary/steps: got string, want integer"},
		{"google-health-daily-rollup.schema.json", `{"rollupDataPoints":[{"civilStartTime":{"date":{"year":2026,"month":11,"day":22}},"steps":{"countSum":8432}}]}`,
			"/rollupDataPoints/0/steps/countSum: got number, want string"},
		{"google-health-notification.schema.json", `{"data":{"healthUserId":"u","operation":"UPSERT","dataType":"steps","intervals":[{"civilIso8601TimeInterval":{"startTime":"2026-11-22T00:00:00"}}]}}`,
			"/data/intervals/0/civilIso8601TimeInterval: missing property 'endTime'"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d-%s", i, c.schema), func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			err = payloadSchema(t, c.schema).Validate(inst)
			if err == nil {
				t.Fatal("accepted")
			}
			var lines []string
			var walk func(u *jsonschema.OutputUnit)
			walk = func(u *jsonschema.OutputUnit) {
				if u.Error != nil {
					loc := u.InstanceLocation
					if loc == "" {
						loc = "/"
					}
					lines = append(lines, loc+": "+u.Error.String())
				}
				for i := range u.Errors {
					walk(&u.Errors[i])
				}
			}
			walk(err.(*jsonschema.ValidationError).DetailedOutput())
			if !strings.Contains(strings.Join(lines, "\n"), c.want) {
				t.Errorf("want %q in\n%s", c.want, strings.Join(lines, "\n"))
			}
		})
	}
}
