package sandbox

import (
	"hash/fnv"
	"math"
	"regexp"
	"time"
)

// User is a Fitbit test user. Its profile and its daily activities are
// deterministic: the same ID gives the same answers in every run.
type User struct {
	ID          string `json:"id"` // Fitbit encodedId
	FirstName   string `json:"firstName"`
	LastName    string `json:"lastName"`
	Gender      string `json:"gender"`      // MALE, FEMALE, NA
	DateOfBirth string `json:"dateOfBirth"` // yyyy-MM-dd, "" when not shared
	Country     string `json:"country"`     // ISO 3166 alpha-2
	City        string `json:"city"`
	Timezone    string `json:"timezone"`
	MemberSince string `json:"memberSince"` // yyyy-MM-dd
}

// FullName is "FirstName LastName".
func (u User) FullName() string {
	if u.LastName == "" {
		return u.FirstName
	}
	return u.FirstName + " " + u.LastName
}

// DefaultUsers are the named test users every Fitbit fake knows. Any other
// ID matching [0-9A-Z]{1,16} given as sandbox_user is created on first use
// with a generated, deterministic profile (see GeneratedUser).
var DefaultUsers = []User{
	{ID: "ADA1", FirstName: "Ada", LastName: "Lovelace", Gender: "FEMALE", DateOfBirth: "1985-12-10", Country: "GB", City: "London", Timezone: "Europe/London", MemberSince: "2016-03-14"},
	{ID: "ALAN2", FirstName: "Alan", LastName: "Turing", Gender: "MALE", DateOfBirth: "1962-06-23", Country: "GB", City: "Manchester", Timezone: "Europe/London", MemberSince: "2015-06-01"},
	{ID: "GRACE3", FirstName: "Grace", LastName: "Hopper", Gender: "FEMALE", DateOfBirth: "1976-12-09", Country: "US", City: "New York", Timezone: "America/New_York", MemberSince: "2017-09-20"},
	{ID: "KATH4", FirstName: "Katherine", LastName: "Johnson", Gender: "FEMALE", DateOfBirth: "1988-08-26", Country: "US", City: "Hampton", Timezone: "America/New_York", MemberSince: "2019-01-07"},
	{ID: "LINUS5", FirstName: "Linus", LastName: "Torvalds", Gender: "MALE", DateOfBirth: "1969-12-28", Country: "FI", City: "Helsinki", Timezone: "Europe/Helsinki", MemberSince: "2014-11-30"},
	{ID: "EMMY6", FirstName: "Emmy", LastName: "Noether", Gender: "FEMALE", DateOfBirth: "1992-03-23", Country: "DE", City: "Erlangen", Timezone: "Europe/Berlin", MemberSince: "2020-05-05"},
}

var userIDPattern = regexp.MustCompile(`^[0-9A-Z]{1,16}$`)

// ValidUserID reports whether id can name a sandbox test user.
func ValidUserID(id string) bool { return userIDPattern.MatchString(id) }

var (
	genFirst = []string{"Mia", "Noah", "Lena", "Omar", "Sofia", "Yuki", "Ravi", "Chloe", "Jonas", "Amara", "Pablo", "Ines", "Kofi", "Hana", "Tomas", "Leila"}
	genLast  = []string{"Garcia", "Okafor", "Schmidt", "Tanaka", "Rossi", "Novak", "Silva", "Dubois", "Kowalski", "Haddad", "Larsen", "Murphy", "Costa", "Ivanova", "Patel", "Moreau"}
	genPlace = []struct{ country, city, tz string }{
		{"GB", "Leeds", "Europe/London"}, {"DE", "Hamburg", "Europe/Berlin"}, {"FR", "Lyon", "Europe/Paris"},
		{"US", "Denver", "America/Denver"}, {"ES", "Sevilla", "Europe/Madrid"}, {"NL", "Utrecht", "Europe/Amsterdam"},
		{"IT", "Torino", "Europe/Rome"}, {"CA", "Toronto", "America/Toronto"},
	}
	tzOffsetMillis = map[string]int64{
		"Europe/London": 0, "Europe/Berlin": 3600000, "Europe/Paris": 3600000, "Europe/Madrid": 3600000,
		"Europe/Amsterdam": 3600000, "Europe/Rome": 3600000, "Europe/Helsinki": 7200000,
		"America/New_York": -18000000, "America/Toronto": -18000000, "America/Denver": -25200000,
	}
)

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// GeneratedUser is the profile the sandbox gives an ID that is not one of
// DefaultUsers (or of FitbitOptions.Users).
func GeneratedUser(id string) User {
	h := hash64("user", id)
	p := genPlace[(h>>16)%uint64(len(genPlace))]
	gender := "FEMALE"
	if (h>>40)%2 == 1 {
		gender = "MALE"
	}
	dob := time.Date(1955, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int((h>>24)%uint64(50*365)))
	since := time.Date(2013, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int((h>>8)%uint64(10*365)))
	return User{
		ID:          id,
		FirstName:   genFirst[h%uint64(len(genFirst))],
		LastName:    genLast[(h>>4)%uint64(len(genLast))],
		Gender:      gender,
		DateOfBirth: dob.Format("2006-01-02"),
		Country:     p.country,
		City:        p.city,
		Timezone:    p.tz,
		MemberSince: since.Format("2006-01-02"),
	}
}

// profileJSON is the body of GET /1/user/-/profile.json for u, in the shape
// of samples/fitbit/profile.json (plus firstName/lastName, which the real
// API also returns).
func profileJSON(u User) map[string]any {
	h := hash64("body", u.ID)
	height := 150 + float64(h%45) + 0.2
	weight := math.Round((50+float64((h>>8)%50))*10) / 10
	avatar := "female"
	if u.Gender == "MALE" {
		avatar = "male"
	}
	return map[string]any{"user": map[string]any{
		"aboutMe":             "",
		"avatar":              "https://static0.fitbit.com/images/profile/defaultProfile_100_" + avatar + ".png",
		"avatar150":           "https://static0.fitbit.com/images/profile/defaultProfile_150_" + avatar + ".png",
		"city":                u.City,
		"country":             u.Country,
		"dateOfBirth":         u.DateOfBirth,
		"displayName":         u.FirstName,
		"distanceUnit":        "METRIC",
		"encodedId":           u.ID,
		"firstName":           u.FirstName,
		"foodsLocale":         "en_GB",
		"fullName":            u.FullName(),
		"gender":              u.Gender,
		"glucoseUnit":         "METRIC",
		"height":              height,
		"heightUnit":          "METRIC",
		"lastName":            u.LastName,
		"locale":              "en_GB",
		"memberSince":         u.MemberSince,
		"offsetFromUTCMillis": tzOffsetMillis[u.Timezone],
		"startDayOfWeek":      "MONDAY",
		"strideLengthRunning": math.Round(height*0.52*10) / 10,
		"strideLengthWalking": math.Round(height*0.415*10) / 10,
		"timezone":            u.Timezone,
		"waterUnit":           "METRIC",
		"weight":              weight,
		"weightUnit":          "METRIC",
	}}
}

// Steps is the step count of user on date (yyyy-MM-dd) in every sandbox:
// 2,000 to 20,000, from an FNV-1a hash of user and date. It is what
// GET /1/user/{user}/activities/date/{date}.json answers as summary.steps.
func Steps(user, date string) int {
	return 2000 + int(hash64("steps", user, date)%18001)
}

// activityJSON is the daily activity summary of user on date, in the shape
// of samples/fitbit/daily-activity-summary.json.
func activityJSON(user, date string) map[string]any {
	steps := Steps(user, date)
	h := hash64("activity", user, date)
	round2 := func(f float64) float64 { return math.Round(f*100) / 100 }
	total := round2(float64(steps) * 0.000762)
	very := int(h%60) + steps/1000
	fairly := int((h>>8)%40) + steps/2000
	lightly := int((h>>16)%120) + 60
	sedentary := 1440 - very - fairly - lightly - 420
	bmr := 1400 + int((h>>24)%400)
	activityCal := steps / 20
	veryDist := round2(total * 0.45)
	modDist := round2(total * 0.2)
	lightDist := round2(total - veryDist - modDist)
	activities := []any{}
	if (h>>32)%3 == 0 {
		activities = append(activities, map[string]any{
			"activityId": 90009, "activityParentId": 90009, "activityParentName": "Run",
			"calories": 300 + int((h>>36)%300), "description": "Running - 5 mph (12 min/mile)",
			"duration": 1800000 + int((h>>40)%1800)*1000, "hasStartTime": true, "isFavorite": false,
			"lastModified": date + "T19:02:11.000Z", "logId": int64(h>>20) % 100000000000,
			"name": "Run", "startDate": date, "startTime": "18:30",
		})
	}
	return map[string]any{
		"activities": activities,
		"goals": map[string]any{
			"activeMinutes": 30, "caloriesOut": 2500, "distance": 8.05, "steps": 10000,
		},
		"summary": map[string]any{
			"activeScore":      -1,
			"activityCalories": activityCal,
			"caloriesBMR":      bmr,
			"caloriesOut":      bmr + activityCal,
			"distances": []any{
				map[string]any{"activity": "total", "distance": total},
				map[string]any{"activity": "tracker", "distance": total},
				map[string]any{"activity": "loggedActivities", "distance": 0},
				map[string]any{"activity": "veryActive", "distance": veryDist},
				map[string]any{"activity": "moderatelyActive", "distance": modDist},
				map[string]any{"activity": "lightlyActive", "distance": lightDist},
				map[string]any{"activity": "sedentaryActive", "distance": 0},
			},
			"fairlyActiveMinutes":  fairly,
			"lightlyActiveMinutes": lightly,
			"marginalCalories":     activityCal * 3 / 4,
			"sedentaryMinutes":     sedentary,
			"steps":                steps,
			"veryActiveMinutes":    very,
		},
	}
}

func validDate(s string) bool {
	t, err := time.Parse("2006-01-02", s)
	return err == nil && t.Format("2006-01-02") == s
}
