package mapping_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// The shipped templates on the samples of the contract.

func TestFitbitProfileToContact(t *testing.T) {
	mp := loadFile(t, profileTemplate)
	x, err := runMap(t, mp, readTestdata(t, "fitbit-profile.json"), "", nil)
	noError(t, err)
	if ct := x.contentType; ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	golden(t, "profile-contact.golden.json", x.body)
}

// The contact import of the Marketing Cloud sample, byte for byte, from
// a profile with the same person in it.
func TestContactEqualsTheContractSample(t *testing.T) {
	mp := loadFile(t, profileTemplate)
	x, err := runMap(t, mp, readTestdata(t, "fitbit-profile-ada.json"), "", nil)
	noError(t, err)
	want := compactJSON(t, readTestdata(t, "mkc-import-headers-contact.json"))
	if !bytes.Equal(x.body, want) {
		t.Errorf("\n got: %s\nwant: %s", x.body, want)
	}
}

func TestProfileWithoutOptionalFields(t *testing.T) {
	mp := loadFile(t, profileTemplate)
	x, err := runMap(t, mp, readTestdata(t, "fitbit-profile-minimal.json"), "", nil)
	noError(t, err)
	want := `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"STRIDE","Contacts":[{"Id":"2ABC3D","IdOrigin":"FITBIT","Timestamp":"/Date(1763856000000)/","FirstName":"Madonna","FullName":"Madonna"}]}`
	if string(x.body) != want {
		t.Errorf("\n got: %s\nwant: %s", x.body, want)
	}
}

var activityProps = map[string]any{"owner": "26FWFL", "day": "2025-11-22"}

func TestDailySummaryToInteraction(t *testing.T) {
	mp := loadFile(t, activityTemplate)
	x, err := runMap(t, mp, readTestdata(t, "fitbit-daily-activity-summary.json"), "", activityProps)
	noError(t, err)
	got := x.body
	golden(t, "activity-interaction.golden.json", got)

	// The CONTRACT shape exactly: the sample with its made-up Key replaced
	// by the deterministic one.
	keyRE := regexp.MustCompile(`"Key":"([0-9a-f]{32})"`)
	m := keyRE.FindSubmatch(got)
	if m == nil {
		t.Fatalf("no 32-hex-digit Key in %s", got)
	}
	sample := compactJSON(t, readTestdata(t, "mkc-import-headers-interaction.json"))
	sample = keyRE.ReplaceAll(sample, []byte(`"Key":"`+string(m[1])+`"`))
	if !bytes.Equal(got, sample) {
		t.Errorf("not the CONTRACT shape\n got: %s\nwant: %s", got, sample)
	}
	if !bytes.Contains(got, []byte(`"Quantifier":15720}`)) {
		t.Errorf("Quantifier is not the JSON number 15720: %s", got)
	}

	// The same user, day and collection give the same Key; another day another.
	x2, err := runMap(t, mp, readTestdata(t, "fitbit-daily-activity-summary.json"), "", activityProps)
	noError(t, err)
	if !bytes.Equal(x2.body, got) {
		t.Error("the same input mapped twice differs")
	}
	x3, err := runMap(t, mp, readTestdata(t, "fitbit-daily-activity-summary.json"), "", map[string]any{"owner": "26FWFL", "day": "2025-11-23"})
	noError(t, err)
	if m3 := keyRE.FindSubmatch(x3.body); m3 == nil || bytes.Equal(m3[1], m[1]) {
		t.Errorf("another day must give another Key: %s", x3.body)
	}
}

// One compiled mapping serves concurrent messages.
func TestConcurrentRuns(t *testing.T) {
	mp := loadFile(t, activityTemplate)
	body := readTestdata(t, "fitbit-daily-activity-summary.json")
	x, err := runMap(t, mp, body, "", activityProps)
	noError(t, err)
	want := string(x.body)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				day := fmt.Sprintf("2025-11-%02d", 1+(g+i)%28)
				x, err := runMap(t, mp, body, "", map[string]any{"owner": "26FWFL", "day": day})
				if err != nil || !strings.Contains(string(x.body), "26FWFL-"+day) {
					errs <- fmt.Sprintf("%v %s", err, x.body)
					return
				}
				if day == "2025-11-22" && string(x.body) != want {
					errs <- "differs: " + string(x.body)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
