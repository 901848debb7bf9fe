package targetgroups

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Target-group name rules (AWS CreateTargetGroup).
const (
	// MaxNameLength is the longest target-group name AWS accepts.
	MaxNameLength = 32
	// reservedNamePrefix may not start a target-group name.
	reservedNamePrefix = "internal-"
	// hashLength is how many hex digits of SHA-256 end every name.
	hashLength = 8
)

// NameError says a target-group name breaks AWS's rules.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid target group name %q: %s", e.Name, e.Reason)
}

// Name returns the deterministic name of the target group okra creates for
// cluster in cell. The scheme is
//
//	<cell>-<cluster>-<hash>
//
// where <cell> and <cluster> are the names lowercased, with every run of
// characters other than a-z and 0-9 turned into one hyphen and hyphens
// trimmed from both ends; when "<cell>-<cluster>" is longer than 23
// characters, the cell keeps at least its first 7 characters (all of it if
// the cluster is short), the cluster gets the rest, and each is cut from
// the end. <hash> is always present: the first 8 hex digits of
// SHA-256(cell + "\x00" + cluster) over the names as given, so pairs whose
// readable parts collide after cleaning or truncation still get different
// names. An empty readable part is dropped, and a name that would start
// with the reserved "internal-" starts with "int-" instead. The result
// always passes ValidateName and is at most 32 characters.
//
// Example: Name("web", "web-1-v2") == "web-web-1-v2-" + 8 hex digits.
func Name(cell, cluster string) string {
	sum := sha256.Sum256([]byte(cell + "\x00" + cluster))
	hash := hex.EncodeToString(sum[:])[:hashLength]

	budget := MaxNameLength - hashLength - 1 // room for "<cell>-<cluster>"
	c, k := cleanNamePart(cell), cleanNamePart(cluster)
	if len(c)+1+len(k) > budget {
		cellMax := max(budget/3, budget-1-len(k))
		c = cut(c, cellMax)
		k = cut(k, budget-1-len(c))
	}
	var parts []string
	for _, p := range []string{c, k} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	readable := strings.Join(parts, "-")
	if strings.HasPrefix(readable+"-", reservedNamePrefix) {
		readable = "int" + strings.TrimPrefix(readable, "internal")
	}
	if readable == "" {
		return hash
	}
	return readable + "-" + hash
}

// cleanNamePart lowercases s, turns runs of characters outside [a-z0-9]
// into one hyphen and trims hyphens from both ends.
func cleanNamePart(s string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			hyphen = false
			continue
		}
		if !hyphen {
			b.WriteByte('-')
			hyphen = true
		}
	}
	return strings.Trim(b.String(), "-")
}

// cut shortens s (ASCII after cleanNamePart) to at most n bytes and trims
// hyphens left at its end.
func cut(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) > n {
		s = s[:n]
	}
	return strings.TrimRight(s, "-")
}

// ValidateName checks a target-group name against AWS's rules: 1 to 32
// characters, only A-Z, a-z, 0-9 and hyphens, not beginning or ending with
// a hyphen, no two hyphens in a row (an undocumented AWS check), and not
// beginning with "internal-". It returns a *NameError.
func ValidateName(name string) error {
	switch {
	case name == "":
		return &NameError{Name: name, Reason: "must not be empty"}
	case len(name) > MaxNameLength:
		return &NameError{Name: name, Reason: fmt.Sprintf("is %d characters long, at most %d allowed", len(name), MaxNameLength)}
	}
	for i, r := range name {
		if !((r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '-') {
			return &NameError{Name: name, Reason: fmt.Sprintf("character %q at position %d is not a letter, digit or hyphen", r, i)}
		}
	}
	switch {
	case strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-"):
		return &NameError{Name: name, Reason: "must not begin or end with a hyphen"}
	case strings.Contains(name, "--"):
		return &NameError{Name: name, Reason: "must not contain two hyphens in a row"}
	case strings.HasPrefix(strings.ToLower(name), reservedNamePrefix):
		return &NameError{Name: name, Reason: `must not begin with "internal-"`}
	}
	return nil
}
