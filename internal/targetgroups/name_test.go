package targetgroups_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/okrahq/okra/internal/targetgroups"
)

var hashSuffix = regexp.MustCompile(`(^|-)[0-9a-f]{8}$`)

func TestName(t *testing.T) {
	tests := []struct {
		name       string
		cell       string
		cluster    string
		wantPrefix string // the readable part before the hash
	}{
		{name: "short names kept whole", cell: "web", cluster: "web-1-v2", wantPrefix: "web-web-1-v2"},
		{name: "lowercased", cell: "Web", cluster: "Blue-Cluster", wantPrefix: "web-blue-cluster"},
		{name: "other characters become one hyphen", cell: "my_cell..x", cluster: "a__b", wantPrefix: "my-cell-x-a-b"},
		{name: "exactly 23 readable characters fit", cell: "abcdefghij", cluster: "klmnopqrstuv", wantPrefix: "abcdefghij-klmnopqrstuv"},
		{name: "long cluster cut, cell kept", cell: "web", cluster: "production-us-east-1-web-cluster-v2", wantPrefix: "web-production-us-east"},
		{name: "long cell cut to leave room for a short cluster", cell: "checkout-payments-gateway", cluster: "c1-v2", wantPrefix: "checkout-payments-c1-v2"},
		{name: "both long: cell keeps 7", cell: "checkout-payments-gateway", cluster: "production-cluster-blue-v17", wantPrefix: "checkou-production-clus"},
		{name: "hyphen left by a cut is trimmed", cell: "abcdef-hijk", cluster: "averyveryveryverylongclustername", wantPrefix: "abcdef-averyveryveryver"},
		{name: "reserved internal- prefix avoided", cell: "internal", cluster: "api", wantPrefix: "int-api"},
		{name: "reserved prefix from the cell's start", cell: "Internal-Tools", cluster: "c", wantPrefix: "int-tools-c"},
		{name: "internal without hyphen is fine", cell: "internalapi", cluster: "c", wantPrefix: "internalapi-c"},
		{name: "nothing readable", cell: "___", cluster: "", wantPrefix: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := targetgroups.Name(tt.cell, tt.cluster)
			if err := targetgroups.ValidateName(got); err != nil {
				t.Fatalf("Name(%q, %q) = %q, invalid: %v", tt.cell, tt.cluster, got, err)
			}
			if !hashSuffix.MatchString(got) {
				t.Fatalf("Name(%q, %q) = %q, want an 8-hex-digit hash at the end", tt.cell, tt.cluster, got)
			}
			prefix := strings.TrimSuffix(strings.TrimSuffix(got, got[len(got)-8:]), "-")
			if prefix != tt.wantPrefix {
				t.Fatalf("Name(%q, %q) = %q, readable part %q, want %q", tt.cell, tt.cluster, got, prefix, tt.wantPrefix)
			}
			if again := targetgroups.Name(tt.cell, tt.cluster); again != got {
				t.Fatalf("Name is not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestNameUnique(t *testing.T) {
	// Pairs that clean or truncate to the same readable part, and pairs
	// whose concatenations are equal, still get different names.
	pairs := [][2]string{
		{"web", "a-b"}, {"web-a", "b"}, {"web_a", "b"}, {"web.a", "b"}, {"WEB-A", "b"},
		{"checkout-payments-gateway", "production-cluster-blue-v17"},
		{"checkout-payments-gateway", "production-cluster-blue-v18"},
		{"checkout-payments-gateway-2", "production-cluster-blue-v17"},
	}
	for i := 0; i < 2000; i++ {
		pairs = append(pairs, [2]string{fmt.Sprintf("cell-%d", i%40), fmt.Sprintf("a-very-long-cluster-name-in-region-%d", i)})
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		n := targetgroups.Name(p[0], p[1])
		if err := targetgroups.ValidateName(n); err != nil {
			t.Fatalf("Name(%q, %q) = %q: %v", p[0], p[1], n, err)
		}
		if other, dup := seen[n]; dup && other != p {
			t.Fatalf("Name(%q, %q) = Name(%q, %q) = %q", p[0], p[1], other[0], other[1], n)
		}
		seen[n] = p
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "simple", in: "web-blue-1"},
		{name: "32 characters", in: strings.Repeat("a", 32)},
		{name: "uppercase allowed", in: "Web-Blue"},
		{name: "33 characters", in: strings.Repeat("a", 33), wantErr: "is 33 characters long, at most 32"},
		{name: "empty", in: "", wantErr: "must not be empty"},
		{name: "underscore", in: "web_blue", wantErr: `character '_' at position 3`},
		{name: "dot", in: "web.blue", wantErr: `character '.'`},
		{name: "space", in: "web blue", wantErr: `character ' '`},
		{name: "non-ASCII", in: "wéb", wantErr: `character 'é'`},
		{name: "leading hyphen", in: "-web", wantErr: "must not begin or end with a hyphen"},
		{name: "trailing hyphen", in: "web-", wantErr: "must not begin or end with a hyphen"},
		{name: "double hyphen", in: "web--blue", wantErr: "two hyphens in a row"},
		{name: "internal- prefix", in: "internal-web", wantErr: `must not begin with "internal-"`},
		{name: "internal- prefix any case", in: "Internal-web", wantErr: `must not begin with "internal-"`},
		{name: "internal without hyphen", in: "internalweb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := targetgroups.ValidateName(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			var ne *targetgroups.NameError
			if !errors.As(err, &ne) || ne.Name != tt.in {
				t.Fatalf("ValidateName(%q) = %v, want a *NameError", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateName(%q) = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
		})
	}
}
