package argocd_test

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/okrahq/okra/internal/argocd"
)

func TestTagLabels(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name        string
		tags        map[string]string
		wantLabels  map[string]string
		wantSkipped []string // tag keys
	}{
		{
			name:       "valid tags are kept as they are",
			tags:       map[string]string{"name": "web-1-v2", "role": "web", "version": "v2.0.0-rc.1", "team.example.com/owner": "Platform_Team"},
			wantLabels: map[string]string{"name": "web-1-v2", "role": "web", "version": "v2.0.0-rc.1", "team.example.com/owner": "Platform_Team"},
		},
		{
			name:       "invalid characters in names and values become underscores",
			tags:       map[string]string{"Cost Center": "R&D 42", "aws:cloudformation:stack-name": "okra stack"},
			wantLabels: map[string]string{"Cost_Center": "R_D_42", "aws_cloudformation_stack-name": "okra_stack"},
		},
		{
			name:       "leading and trailing punctuation is trimmed",
			tags:       map[string]string{"_env_": "-prod.", " owner ": " me "},
			wantLabels: map[string]string{"env": "prod", "owner": "me"},
		},
		{
			name:       "empty values are valid",
			tags:       map[string]string{"canary": ""},
			wantLabels: map[string]string{"canary": ""},
		},
		{
			name:       "prefix is lowercased and made a DNS subdomain",
			tags:       map[string]string{"My_Corp.IO/team": "a", "k8s:ns/x": "b"},
			wantLabels: map[string]string{"my-corp.io/team": "a", "k8s-ns/x": "b"},
		},
		{
			name:       "only the first slash separates the prefix",
			tags:       map[string]string{"kubernetes.io/cluster/web-1": "owned"},
			wantLabels: map[string]string{"kubernetes.io/cluster_web-1": "owned"},
		},
		{
			name:        "okra's and ArgoCD's keys are refused",
			tags:        map[string]string{"argocd.argoproj.io/secret-type": "repository", "app.kubernetes.io/managed-by": "terraform", "okra.dev/cluster-name": "x", "sub.okra.dev/a": "y", "app.kubernetes.io/part-of": "shop"},
			wantLabels:  map[string]string{"app.kubernetes.io/part-of": "shop"},
			wantSkipped: []string{"app.kubernetes.io/managed-by", "argocd.argoproj.io/secret-type", "okra.dev/cluster-name", "sub.okra.dev/a"},
		},
		{
			name:        "names and values longer than 63 characters are skipped, not truncated",
			tags:        map[string]string{long(63): long(63), long(64): "x", "desc": long(64)},
			wantLabels:  map[string]string{long(63): long(63)},
			wantSkipped: []string{long(64), "desc"},
		},
		{
			name:        "a prefix longer than 253 characters is skipped",
			tags:        map[string]string{strings.Repeat("abcdefghi.", 26) + "io/x": "y"},
			wantLabels:  map[string]string{},
			wantSkipped: []string{strings.Repeat("abcdefghi.", 26) + "io/x"},
		},
		{
			name:        "keys with nothing usable are skipped",
			tags:        map[string]string{"@@": "x", "a/": "y", "::/b": "z"},
			wantLabels:  map[string]string{},
			wantSkipped: []string{"::/b", "@@", "a/"},
		},
		{
			name:        "a key that was already valid wins a collision",
			tags:        map[string]string{"team name": "a", "team_name": "b"},
			wantLabels:  map[string]string{"team_name": "b"},
			wantSkipped: []string{"team name"},
		},
		{
			name:        "between two sanitized keys the first in order wins",
			tags:        map[string]string{"a:b": "colon", "a b": "space"},
			wantLabels:  map[string]string{"a_b": "space"},
			wantSkipped: []string{"a:b"},
		},
		{
			name:       "non-ASCII characters are replaced",
			tags:       map[string]string{"équipe": "café"},
			wantLabels: map[string]string{"quipe": "caf"},
		},
		{
			name:       "no tags",
			tags:       nil,
			wantLabels: map[string]string{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			labels, skipped := argocd.TagLabels(tc.tags)
			if !reflect.DeepEqual(labels, tc.wantLabels) {
				t.Errorf("labels = %v, want %v", labels, tc.wantLabels)
			}
			var gotSkipped []string
			for _, s := range skipped {
				gotSkipped = append(gotSkipped, s.Key)
				if s.Reason == "" {
					t.Errorf("skipped tag %q has no reason", s.Key)
				}
			}
			if !reflect.DeepEqual(gotSkipped, tc.wantSkipped) {
				t.Errorf("skipped = %q, want %q (%v)", gotSkipped, tc.wantSkipped, skipped)
			}
			for k, v := range labels {
				if errs := validation.IsQualifiedName(k); len(errs) > 0 {
					t.Errorf("label key %q is invalid: %v", k, errs)
				}
				if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
					t.Errorf("label value %q is invalid: %v", v, errs)
				}
			}
			if len(labels)+len(skipped) != len(tc.tags) {
				t.Errorf("%d labels + %d skipped != %d tags: a tag was lost", len(labels), len(skipped), len(tc.tags))
			}
		})
	}
}

func TestSkippedTagReasons(t *testing.T) {
	_, skipped := argocd.TagLabels(map[string]string{
		"argocd.argoproj.io/secret-type": "repository",
		"desc":                           strings.Repeat("x", 64),
	})
	want := map[string]string{
		"argocd.argoproj.io/secret-type": "okra owns",
		"desc":                           "longer than 63",
	}
	if len(skipped) != len(want) {
		t.Fatalf("skipped = %v, want %d entries", skipped, len(want))
	}
	for _, s := range skipped {
		if !strings.Contains(s.Reason, want[s.Key]) {
			t.Errorf("reason for %q = %q, want it to mention %q", s.Key, s.Reason, want[s.Key])
		}
		if !strings.Contains(s.String(), s.Key) {
			t.Errorf("String() = %q does not name the tag", s.String())
		}
	}
}
