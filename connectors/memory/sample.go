package memory

import (
	"fmt"
	"strings"
)

var (
	sampleAdjectives = []string{"Northwind", "Blue", "Summit", "Bright", "Granite", "Silver", "Cedar", "Harbor",
		"Evergreen", "Pioneer", "Redwood", "Atlas", "Crescent", "Ironwood", "Lakeside", "Meridian"}
	sampleNouns = []string{"Analytics", "Logistics", "Foods", "Robotics", "Health", "Energy", "Capital", "Media",
		"Systems", "Labs", "Outfitters", "Freight", "Software", "Textiles", "Dental", "Brewing"}
	sampleSuffixes   = []string{"Inc", "LLC", "Group", "Co", "Partners", "Ltd", "Holdings", "Corp"}
	sampleIndustries = []string{"Software", "Manufacturing", "Retail", "Healthcare", "Financial Services",
		"Logistics", "Education", "Hospitality", "Energy", "Media"}
	sampleAreaCodes = []int{212, 303, 312, 415, 503, 512, 617, 646, 702, 206, 305, 404}
)

// SampleCompany returns realistic-looking company fields for record number i: name,
// domain, phone, industry and employees (a float64, as JSON numbers are). It is
// deterministic in i and every i has its own name and domain, so the domain can serve as
// a unique key.
func SampleCompany(i int) map[string]any {
	if i < 0 {
		i = -i
	}
	// i in mixed radix over the word lists: every i gets a distinct combination, and
	// beyond the lists' product a generation number keeps names distinct.
	adj := sampleAdjectives[i%len(sampleAdjectives)]
	rest := i / len(sampleAdjectives)
	noun := sampleNouns[rest%len(sampleNouns)]
	rest /= len(sampleNouns)
	suffix := sampleSuffixes[rest%len(sampleSuffixes)]
	generation := rest / len(sampleSuffixes)

	name := fmt.Sprintf("%s %s %s", adj, noun, suffix)
	slug := strings.ToLower(adj + noun + suffix)
	if generation > 0 {
		name = fmt.Sprintf("%s %s %d %s", adj, noun, generation+1, suffix)
		slug = fmt.Sprintf("%s%d", slug, generation+1)
	}
	return map[string]any{
		"name":      name,
		"domain":    slug + ".example.com",
		"phone":     fmt.Sprintf("+1 %d-555-%04d", sampleAreaCodes[i%len(sampleAreaCodes)], (i*37)%10000),
		"industry":  sampleIndustries[(i*7)%len(sampleIndustries)],
		"employees": float64(5 + (i*7919)%4995),
	}
}
