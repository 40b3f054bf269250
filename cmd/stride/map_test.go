package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	mapTemplates = "../../flows/fitbit/mappings"
	mapTestdata  = "../../engine/mapping/testdata"
)

// mapEnv writes an env file with the Marketing Cloud variables and makes
// sure the process environment does not set them.
func mapEnv(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"MKC_SOURCE_SYSTEM_ID", "MKC_ID_ORIGIN", "MKC_COMMUNICATION_MEDIUM", "MKC_INTERACTION_TYPE"} {
		unsetEnv(t, n)
	}
	path := filepath.Join(t.TempDir(), "mkc.env")
	env := "MKC_SOURCE_SYSTEM_ID=STRIDE\nMKC_ID_ORIGIN=FITBIT\nMKC_COMMUNICATION_MEDIUM=WEB\nMKC_INTERACTION_TYPE=WEBSITE_VISIT\n"
	if err := os.WriteFile(path, []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMapCommandPrintsIndentedJSON(t *testing.T) {
	env := mapEnv(t)
	code, stdout, stderr := cli("map", "--template", mapTemplates+"/activity-interaction.map.yaml",
		"--input", mapTestdata+"/fitbit-daily-activity-summary.json", "--env-file", env,
		"--property", "owner=26FWFL", "--property", "day=2025-11-22")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	want := `{
  "Id": "",
  "SourceSystemType": "EXT",
  "SourceSystemId": "STRIDE",
  "Interactions": [
    {
      "Key": "474282c81f905c1db3a52844688fe720",
      "ContactId": "26FWFL",
      "ContactIdOrigin": "FITBIT",
      "CommunicationMedium": "WEB",
      "InteractionType": "WEBSITE_VISIT",
      "Timestamp": "/Date(1763769600000)/",
      "SourceObjectType": "FITBIT_ACTIVITY",
      "SourceObjectId": "26FWFL-2025-11-22",
      "Quantifier": 15720
    }
  ]
}
`
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestMapCommandCompactAndFixedClock(t *testing.T) {
	env := mapEnv(t)
	code, stdout, stderr := cli("map", "--template", mapTemplates+"/profile-contact.map.yaml",
		"--input", mapTestdata+"/fitbit-profile-ada.json", "--env-file", env, "--now", "2025-11-23T00:00:00Z", "--compact")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	sample, err := os.ReadFile(mapTestdata + "/mkc-import-headers-contact.json")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(strings.Fields(string(sample)), "")
	want = strings.ReplaceAll(want, `"FullName":"AdaLovelace"`, `"FullName":"Ada Lovelace"`)
	if stdout != want+"\n" {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestMapCommandXMLOutput(t *testing.T) {
	env := mapEnv(t)
	// The process environment wins over the env file.
	t.Setenv("MKC_ID_ORIGIN", "FROM_ENV")
	code, stdout, stderr := cli("map", "--template", mapTemplates+"/profile-contact.map.yaml",
		"--input", mapTestdata+"/fitbit-profile.json", "--env-file", env, "--now", "2025-11-23T00:00:00Z",
		"--output", "xml", "--root", "ImportHeaders")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "<ImportHeaders><Id/><SourceSystemType>EXT</SourceSystemType>") ||
		!strings.Contains(stdout, "<IdOrigin>FROM_ENV</IdOrigin>") || !strings.HasSuffix(stdout, "</Contacts></ImportHeaders>\n") {
		t.Errorf("stdout: %s", stdout)
	}
}

func TestMapCommandXPathOnAnXMLInput(t *testing.T) {
	code, stdout, stderr := cli("map", "--template", mapTestdata+"/notifications-xml.map.yaml",
		"--input", mapTestdata+"/fitbit-notification.xml", "--compact")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if !strings.HasSuffix(stdout, `"owners":["224F7B","2242TQ"]}`+"\n") {
		t.Errorf("stdout: %s", stdout)
	}
}

func TestMapCommandErrors(t *testing.T) {
	env := mapEnv(t)
	noBirthday := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(noBirthday, []byte(`{"user": {"encodedId": "26FWFL", "fullName": "Ada Lovelace"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"missing value names the target and the template line",
			[]string{"--template", mapTestdata + "/missing-birthday.map.yaml", "--input", noBirthday}, 1,
			[]string{"stride map: Contacts[0].DateOfBirth (missing-birthday.map.yaml:8): ${json.user.dateOfBirth} has no value"}},
		{"a load error has file:line:col of the template",
			[]string{"--template", mapTestdata + "/typo.map.yaml", "--input", mapTestdata + "/fitbit-profile.json"}, 1,
			[]string{filepath.FromSlash(mapTestdata+"/typo.map.yaml") + ":3:5: map: unknown directive $fro_each; did you mean \"$for_each\"?", "2 errors"}},
		// Unset variables are named: TestMapCommandRedactsSecrets (a
		// template outside any flows root); a shipped template takes its
		// flows' defaults: TestMapUsesTheFlowsEnvDefaults.
		{"schema violation",
			[]string{"--template", mapTestdata + "/bad-quantifier.map.yaml", "--input", mapTestdata + "/fitbit-daily-activity-summary.json", "--property", "owner=x", "--property", "day=2025-11-22"}, 1,
			[]string{"stride map: the result does not match mkc-import-headers.schema.json: ", "/Interactions/0/Quantifier: got string, want number"}},
		{"template not found",
			[]string{"--template", "nope.map.yaml", "--input", mapTestdata + "/fitbit-profile.json"}, 1,
			[]string{"stride map: template: nope.map.yaml not found"}},
		{"input not found",
			[]string{"--template", mapTemplates + "/profile-contact.map.yaml", "--input", "nope.json", "--env-file", env}, 1,
			[]string{"stride map: input: nope.json not found"}},
		{"no template", []string{"--input", "x.json"}, 2, []string{"Usage: stride map"}},
		{"no input", []string{"--template", "x.map.yaml"}, 2, []string{"Usage: stride map"}},
		{"bad property", []string{"--template", "x", "--input", "y", "--property", "novalue"}, 2, []string{"want NAME=VALUE"}},
		{"bad clock", []string{"--template", "x", "--input", "y", "--now", "today"}, 2, []string{"--now \"today\""}},
		{"bad output", []string{"--template", "x", "--input", "y", "--output", "csv"}, 2, []string{"--output \"csv\": want json or xml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := cli(append([]string{"map"}, c.args...)...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr %s", code, c.code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q missing from stderr:\n%s", w, stderr)
				}
			}
			assertNoPanic(t, stderr)
		})
	}
}

// Only the template's scalars name variables: a comment does not.
func TestMapCommandIgnoresVariablesInComments(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"t.map.yaml": "# uses env.NOT_SET_ANYWHERE in a comment only\ntemplate:\n  a: ${json.a}\n",
		"in.json":    `{"a": 1}`,
	})
	unsetEnv(t, "NOT_SET_ANYWHERE")
	code, stdout, stderr := cli("map", "--template", filepath.Join(dir, "t.map.yaml"), "--input", filepath.Join(dir, "in.json"), "--compact")
	if code != 0 || stdout != "{\"a\":1}\n" {
		t.Errorf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
}

// A secret the template reads is looked up like env, and its value never
// shows in an error.
func TestMapCommandRedactsSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"t.map.yaml": "template:\n  token: {$value: '${secret.MAP_TEST_TOKEN}', $convert: number}\n",
		"in.json":    `{}`,
		"vars.env":   "MAP_TEST_TOKEN=s3cr3t-token\n",
	})
	unsetEnv(t, "MAP_TEST_TOKEN")
	code, stdout, stderr := cli("map", "--template", filepath.Join(dir, "t.map.yaml"), "--input", filepath.Join(dir, "in.json"))
	if code != 1 || stdout != "" || !strings.Contains(stderr, "stride map: the template reads variables that are not set: MAP_TEST_TOKEN (") {
		t.Errorf("unset secret: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = cli("map", "--template", filepath.Join(dir, "t.map.yaml"), "--input", filepath.Join(dir, "in.json"), "--env-file", filepath.Join(dir, "vars.env"))
	want := "stride map: token (t.map.yaml:2): $convert number: the text \"***\" is not a number\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q, want %q", code, stdout, stderr, want)
	}
}

// stride map binds the env defaults that the flows beside the template
// declare, as stride run would: the shipped activity mapping runs with no
// variable set.
func TestMapUsesTheFlowsEnvDefaults(t *testing.T) {
	for _, name := range []string{"MKC_ID_ORIGIN", "MKC_SOURCE_SYSTEM_ID", "MKC_INTERACTION_TYPE", "MKC_COMMUNICATION_MEDIUM"} {
		unsetEnv(t, name)
	}
	code, out, errOut := runCmd("map", "--template", "../../flows/fitbit/mappings/activity-interaction.map.yaml",
		"--input", "../../engine/mapping/testdata/fitbit-daily-activity-summary.json", "--property", "owner=ADA1", "--property", "day=2026-11-22")
	if code != 0 || !strings.Contains(out, `"ContactIdOrigin": "FITBIT"`) || !strings.Contains(out, `"SourceSystemId": "STRIDE"`) {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("MKC_ID_ORIGIN", "OVERRIDE")
	if _, out, _ := runCmd("map", "--template", "../../flows/fitbit/mappings/activity-interaction.map.yaml",
		"--input", "../../engine/mapping/testdata/fitbit-daily-activity-summary.json", "--property", "owner=ADA1", "--property", "day=2026-11-22"); !strings.Contains(out, `"ContactIdOrigin": "OVERRIDE"`) {
		t.Errorf("the environment must win over the flows' defaults:\n%s", out)
	}
}
