package targetgroups_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/targetgroups"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// webCell is a Cell selecting target groups by role=web, creating HTTP
// target groups on port 8080.
func webCell(name string) *cell.Cell {
	return &cell.Cell{
		Metadata: cell.Metadata{Name: name},
		Spec: cell.Spec{
			Ingress: cell.Ingress{
				Type:                cell.IngressALB,
				TargetGroupSelector: cell.TargetGroupSelector{MatchLabels: map[string]string{"role": "web"}},
			},
			TargetGroupTemplate: cell.TargetGroupTemplate{Port: int32p(8080)},
		},
	}
}

func int32p(n int32) *int32 { return &n }

func webCluster(name, version, vpc string) inventory.Cluster {
	return inventory.Cluster{
		Name:   name,
		ARN:    "arn:aws:eks:us-east-1:123456789012:cluster/" + name,
		Status: "ACTIVE",
		VPCID:  vpc,
		Tags:   map[string]string{"role": "web", "version": version, "team": "shop"},
	}
}

func TestDesiredTags(t *testing.T) {
	c := webCell("web")
	c.Spec.TargetGroupTemplate.Tags = map[string]string{"cost-center": "42", "team": "platform"}
	c.Spec.Ingress.TargetGroupSelector.MatchLabels = map[string]string{"role": "web", "tier": "front"}
	cl := webCluster("web-1", "v2", "vpc-1")
	cl.Tags["aws:cloudformation:stack-name"] = "eks-web-1"
	cl.Tags["AWS:Odd"] = "x"
	cl.Tags[inventory.TagCell] = "someone-else" // okra's own tags win

	var logs bytes.Buffer
	got, err := targetgroups.DesiredTags(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)), c, cl)
	if err != nil {
		t.Fatalf("DesiredTags: %v", err)
	}
	want := map[string]string{
		"role":               "web",
		"version":            "v2",
		"team":               "platform", // the template overrides the cluster
		"cost-center":        "42",
		"tier":               "front", // the selector's labels, so discovery finds the group
		inventory.TagCell:    "web",
		inventory.TagCluster: "web-1",
		inventory.TagManaged: "true",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DesiredTags = %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), "aws:cloudformation:stack-name") || !strings.Contains(logs.String(), "AWS:Odd") {
		t.Fatalf("skipped aws: tags not logged: %s", logs.String())
	}
}

func TestDesiredTagsCustomVersionLabel(t *testing.T) {
	c := webCell("web")
	c.Spec.VersionedBy.Label = "release"
	cl := webCluster("web-1", "v2", "vpc-1")
	cl.Tags["release"] = "2024.1"
	got, err := targetgroups.DesiredTags(context.Background(), quiet, c, cl)
	if err != nil {
		t.Fatalf("DesiredTags: %v", err)
	}
	if got["release"] != "2024.1" {
		t.Fatalf("release tag = %q, want 2024.1", got["release"])
	}

	delete(cl.Tags, "release")
	_, err = targetgroups.DesiredTags(context.Background(), quiet, c, cl)
	var mv *targetgroups.MissingVersionTagError
	if !errors.As(err, &mv) || mv.Label != "release" || mv.Cluster != "web-1" {
		t.Fatalf("err = %v, want *MissingVersionTagError for release", err)
	}
}

func TestDesiredTagsLimits(t *testing.T) {
	manyTags := func(n int) map[string]string {
		m := map[string]string{}
		for i := 0; i < n; i++ {
			m[fmt.Sprintf("k%02d", i)] = "v"
		}
		return m
	}
	tests := []struct {
		name       string
		cluster    map[string]string // added to the cluster's tags
		template   map[string]string
		selector   map[string]string
		wantErr    string
		wantKey    string
		wantSource string
	}{
		// The cluster has role, version and team; okra adds 3 tags.
		{name: "50 tags allowed", cluster: manyTags(44)},
		{name: "51 tags refused", cluster: manyTags(45), wantErr: "51 tags, at most 50"},
		{name: "51 tags with the template's refused", cluster: manyTags(40), template: manyTags(45), wantErr: "51 tags, at most 50"},
		{name: "key of 128 characters allowed", cluster: map[string]string{strings.Repeat("k", 128): "v"}},
		{name: "key of 129 characters refused", cluster: map[string]string{strings.Repeat("k", 129): "v"}, wantErr: "key is 129 characters long, at most 128", wantKey: strings.Repeat("k", 129), wantSource: targetgroups.SourceCluster},
		{name: "key length counts characters not bytes", template: map[string]string{strings.Repeat("é", 128): "v"}},
		{name: "value of 256 characters allowed", template: map[string]string{"long": strings.Repeat("v", 256)}},
		{name: "value of 257 characters refused", template: map[string]string{"long": strings.Repeat("v", 257)}, wantErr: "value is 257 characters long, at most 256", wantKey: "long", wantSource: targetgroups.SourceTemplate},
		{name: "empty value allowed", cluster: map[string]string{"empty": ""}},
		{name: "empty key refused", template: map[string]string{"": "v"}, wantErr: "empty key", wantSource: targetgroups.SourceTemplate},
		{name: "aws: key from the template refused", template: map[string]string{"aws:owner": "me"}, wantErr: `"aws:" are reserved`, wantKey: "aws:owner", wantSource: targetgroups.SourceTemplate},
		{name: "aws: key from the selector refused", selector: map[string]string{"Aws:x": "y"}, wantErr: `"aws:" are reserved`, wantKey: "Aws:x", wantSource: targetgroups.SourceSelector},
		{name: "aws: key from the cluster skipped", cluster: map[string]string{"aws:eks:cluster-name": "x"}},
		{name: "bad character in key refused", cluster: map[string]string{"a*b": "v"}, wantErr: "key has characters", wantKey: "a*b"},
		{name: "bad character in value refused", cluster: map[string]string{"ab": "v;1"}, wantErr: "value has characters", wantKey: "ab"},
		{name: "unicode letters, spaces and symbols allowed", cluster: map[string]string{"Équipe web_1.2:3/4=5+6-7@8": "naïve value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := webCell("web")
			c.Spec.TargetGroupTemplate.Tags = tt.template
			for k, v := range tt.selector {
				c.Spec.Ingress.TargetGroupSelector.MatchLabels[k] = v
			}
			cl := webCluster("web-1", "v1", "vpc-1")
			for k, v := range tt.cluster {
				cl.Tags[k] = v
			}
			got, err := targetgroups.DesiredTags(context.Background(), quiet, c, cl)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("DesiredTags: %v", err)
				}
				if len(got) > targetgroups.MaxTagsPerResource {
					t.Fatalf("%d tags accepted", len(got))
				}
				return
			}
			var le *targetgroups.TagLimitError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want *TagLimitError", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.wantErr)
			}
			if tt.wantKey != "" && le.Key != tt.wantKey {
				t.Fatalf("Key = %q, want %q", le.Key, tt.wantKey)
			}
			if tt.wantSource != "" && le.Source != tt.wantSource {
				t.Fatalf("Source = %q, want %q", le.Source, tt.wantSource)
			}
		})
	}
}
