// Command stride-demo is `make demo`: it starts the sandbox's fake Fitbit
// and Marketing Cloud and `stride run` with the shipped flows, plays the
// three scenarios (authorization, notifications, daily collection) and
// prints a short report. It exits 0 only when every expectation held.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/stride-engine/stride/internal/demo"
)

func main() {
	bin := flag.String("bin", "bin/stride", "the stride binary")
	flows := flag.String("flows", "flows", "the flows directory")
	flag.Parse()
	data, err := demo.TempData()
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(data)
	e, err := demo.Start(*bin, *flows, data)
	if err != nil {
		fail(err)
	}
	fmt.Printf("Stride demo — stride on http://%s (admin http://%s), fake Fitbit %s, fake Marketing Cloud %s\n\n", e.Addr, e.Admin, e.Fitbit.URL, e.MKC.URL)
	r := demo.Scenario(e)
	code := e.Stop()

	fmt.Println("Marketing Cloud now holds:")
	for _, c := range r.Contacts {
		fmt.Printf("  contact      %-9s %s\n", c.ID, describeContact(c.FirstName, c.LastName, c.City, c.Country))
	}
	sort.Slice(r.Interactions, func(i, j int) bool { return r.Interactions[i].SourceObjectID < r.Interactions[j].SourceObjectID })
	for _, in := range r.Interactions {
		q := 0.0
		if in.Quantifier != nil {
			q = *in.Quantifier
		}
		fmt.Printf("  interaction  %-22s %6.0f steps  (key %s…)\n", in.SourceObjectID, q, in.Key[:8])
	}
	fmt.Println("\nMessages by status:")
	var statuses []string
	for s, n := range r.Statuses {
		statuses = append(statuses, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(statuses)
	fmt.Println("  " + strings.Join(statuses, ", "))
	fmt.Println("\nRefused, and why:")
	for _, s := range r.Refused {
		fmt.Println("  " + s)
	}
	fmt.Println("\nChecks:")
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Printf("  %s %-58s %s\n", mark, c.Name, c.Got)
	}
	ok := r.Failed() == 0 && code == 0
	fmt.Printf("\n%d passed, %d failed in %.1fs; stride exited %d after SIGTERM\n", len(r.Checks)-r.Failed(), r.Failed(), r.Took.Seconds(), code)
	if !ok {
		fmt.Println("\nstride's log:\n" + e.Log())
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "stride-demo:", err)
	os.Exit(1)
}

// describeContact words a contact's name and place, leaving out what
// Marketing Cloud does not hold (a Google Health user has no profile name).
func describeContact(first, last, city, country string) string {
	name := strings.TrimSpace(first + " " + last)
	if name == "" {
		name = "(no name: the source shares none)"
	}
	var place []string
	for _, p := range []string{city, country} {
		if p != "" {
			place = append(place, p)
		}
	}
	if len(place) > 0 {
		name += " (" + strings.Join(place, ", ") + ")"
	}
	return name
}
