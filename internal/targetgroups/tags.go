package targetgroups

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
)

// AWS tag limits for Elastic Load Balancing resources.
const (
	MaxTagsPerResource = 50
	MaxTagKeyLength    = 128
	MaxTagValueLength  = 256
	// reservedTagPrefix is AWS's; users cannot set such keys.
	reservedTagPrefix = "aws:"
)

// tagPattern is the character set AWS allows in tag keys and values.
var tagPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// Sources of a desired tag, named in errors.
const (
	SourceCluster  = "cluster"
	SourceTemplate = "spec.targetGroupTemplate.tags"
	SourceSelector = "spec.ingress.targetGroupSelector.matchLabels"
	SourceOkra     = "okra"
)

// TagLimitError says the tags okra would put on a target group break an
// AWS limit. Nothing was sent to AWS.
type TagLimitError struct {
	// Key is the offending key; empty when the count is the problem.
	Key string
	// Source says where the tag came from (Source* constants).
	Source string
	Reason string
}

func (e *TagLimitError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("target group tags: %s", e.Reason)
	}
	return fmt.Sprintf("target group tag %q (from %s): %s", e.Key, e.Source, e.Reason)
}

// MissingVersionTagError says the cluster lacks the Cell's version tag, so
// okra cannot place its target group in a rollout and creates none.
type MissingVersionTagError struct {
	Cluster string
	Label   string
}

func (e *MissingVersionTagError) Error() string {
	return fmt.Sprintf("EKS cluster %q has no %q tag: the cell's versionedBy.label names the tag that carries the version", e.Cluster, e.Label)
}

// DesiredTags returns the tags of the target group okra manages for cl in
// c, later sources overriding earlier ones: the cluster's tags (keys
// starting with "aws:" are skipped and logged: EKS clusters may carry
// them, and AWS refuses them from users), the Cell's
// targetGroupTemplate.tags, the Cell's targetGroupSelector.matchLabels (so
// that discovery selects the group), the version tag, and okra:cell,
// okra:cluster and okra:managed=true. Every limit is checked before any
// AWS call: at most 50 tags, keys of 1 to 128 characters, values of at
// most 256, AWS's tag character set, and no "aws:" keys from the Cell.
func DesiredTags(ctx context.Context, log *slog.Logger, c *cell.Cell, cl inventory.Cluster) (map[string]string, error) {
	if log == nil {
		log = slog.Default()
	}
	label := discovery.VersionLabel(c)
	version := cl.Tags[label]
	if version == "" {
		return nil, &MissingVersionTagError{Cluster: cl.Name, Label: label}
	}

	out := map[string]string{}
	source := map[string]string{}
	var skipped []string
	for k, v := range cl.Tags {
		if hasReservedPrefix(k) {
			skipped = append(skipped, k)
			continue
		}
		out[k], source[k] = v, SourceCluster
	}
	if len(skipped) > 0 {
		sort.Strings(skipped)
		log.InfoContext(ctx, "skipping the cluster's aws: tags; AWS reserves them",
			"cluster", cl.Name, "keys", skipped)
	}
	for _, extra := range []struct {
		tags   map[string]string
		source string
	}{
		{c.Spec.TargetGroupTemplate.Tags, SourceTemplate},
		{c.Spec.Ingress.TargetGroupSelector.MatchLabels, SourceSelector},
	} {
		for k, v := range extra.tags {
			if hasReservedPrefix(k) {
				return nil, &TagLimitError{Key: k, Source: extra.source, Reason: `keys starting with "aws:" are reserved by AWS`}
			}
			out[k], source[k] = v, extra.source
		}
	}
	for k, v := range map[string]string{
		label:                version,
		inventory.TagCell:    c.Metadata.Name,
		inventory.TagCluster: cl.Name,
		inventory.TagManaged: inventory.ManagedValue,
	} {
		out[k], source[k] = v, SourceOkra
	}

	if err := ValidateTags(out, source); err != nil {
		return nil, err
	}
	return out, nil
}

// ValidateTags checks tags against AWS's limits for one resource. source,
// which may be nil, names where each key came from in the error. It
// returns a *TagLimitError.
func ValidateTags(tags map[string]string, source map[string]string) error {
	if len(tags) > MaxTagsPerResource {
		return &TagLimitError{Reason: fmt.Sprintf("%d tags, at most %d allowed per target group", len(tags), MaxTagsPerResource)}
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same key every time
	for _, k := range keys {
		v := tags[k]
		src := source[k]
		switch n := utf8.RuneCountInString(k); {
		case n == 0:
			return &TagLimitError{Key: k, Source: src, Reason: "empty key"}
		case n > MaxTagKeyLength:
			return &TagLimitError{Key: k, Source: src, Reason: fmt.Sprintf("key is %d characters long, at most %d allowed", n, MaxTagKeyLength)}
		}
		if n := utf8.RuneCountInString(v); n > MaxTagValueLength {
			return &TagLimitError{Key: k, Source: src, Reason: fmt.Sprintf("value is %d characters long, at most %d allowed", n, MaxTagValueLength)}
		}
		if hasReservedPrefix(k) {
			return &TagLimitError{Key: k, Source: src, Reason: `keys starting with "aws:" are reserved by AWS`}
		}
		if !tagPattern.MatchString(k) {
			return &TagLimitError{Key: k, Source: src, Reason: "key has characters other than letters, digits, spaces and _ . : / = + - @"}
		}
		if !tagPattern.MatchString(v) {
			return &TagLimitError{Key: k, Source: src, Reason: "value has characters other than letters, digits, spaces and _ . : / = + - @"}
		}
	}
	return nil
}

func hasReservedPrefix(key string) bool {
	return strings.HasPrefix(strings.ToLower(key), reservedTagPrefix)
}

// tagDiff returns what to add (new keys and changed values) and which keys
// to remove so that actual matches desired for the keys okra manages:
// every desired key, and every key starting with "okra:". Other keys (set
// by hand, or once copied from a cluster tag since removed) are kept,
// since okra cannot tell them apart.
func tagDiff(actual, desired map[string]string) (add map[string]string, remove []string) {
	add = map[string]string{}
	for k, v := range desired {
		if got, ok := actual[k]; !ok || got != v {
			add[k] = v
		}
	}
	for k := range actual {
		if _, ok := desired[k]; !ok && strings.HasPrefix(k, inventory.TagPrefix) {
			remove = append(remove, k)
		}
	}
	sort.Strings(remove)
	return add, remove
}
