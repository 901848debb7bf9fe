package cell

import (
	"errors"
	"strings"
)

// Check decodes one Cell document, applies the defaults and validates it
// against the shared templates, reporting every problem of the document
// at once: a value of the wrong type or an unparseable duration does not
// hide a weight out of range elsewhere in the file. A value refused while
// decoding is left out for validation, and validation's problems about that
// field (or the part of the document holding it) are not repeated, so each
// mistake is reported once, by its decoding problem.
//
// It returns the defaulted Cell and nil when the document is valid; else
// a nil Cell and the error: a *ValidationError listing every problem, or a
// plain error when the document cannot be read at all (not YAML, another
// kind).
func Check(data []byte, shared TemplateLookup) (*Cell, error) {
	c, decodeErr := DecodeLenient(data)
	if c == nil {
		return nil, decodeErr
	}
	c.Default()
	if err := CombineProblems(decodeErr, Validate(c, shared)); err != nil {
		return nil, err
	}
	return c, nil
}

// DecodeLenient decodes a Cell as Decode does, but goes on past the
// problems of single values (wrong type, unknown field, bad duration):
// each is left out, as if not written, and reported. It returns the Cell
// decoded from the rest with nil, or with a *ValidationError listing those
// problems; or a nil Cell and the error when nothing can be decoded (not
// YAML, not a mapping, another apiVersion or kind). Give the Cell to
// Validate and both errors to CombineProblems to report everything.
func DecodeLenient(data []byte) (*Cell, error) {
	var c Cell
	decoded, err := decodeLenient(data, &c, checkCellHeader)
	if err != nil {
		return nil, err
	}
	return &c, decoded.err()
}

// CombineProblems joins the problems of DecodeLenient (decodeErr) and of
// validating what it decoded (validateErr) into one *ValidationError, or
// nil when both are nil. See mergeProblems for what is left out.
func CombineProblems(decodeErr, validateErr error) error {
	var decoded problems
	var verr *ValidationError
	switch {
	case decodeErr == nil:
	case errors.As(decodeErr, &verr):
		decoded.list = verr.Problems
	default:
		decoded.add("", "%v", decodeErr)
	}
	all := mergeProblems(decoded, validateErr)
	return all.err()
}

// CheckTemplate is Check for an analysis template document stored on its
// own: decoding and ValidateTemplate, every problem at once. With problems
// it still returns what it decoded (nil when nothing could be), so that a
// caller can name the template.
func CheckTemplate(data []byte) (*AnalysisTemplate, error) {
	var t AnalysisTemplate
	decoded, err := decodeLenient(data, &t, checkTemplateHeader)
	if err != nil {
		return nil, err
	}
	if err := CombineProblems(decoded.err(), ValidateTemplate(&t)); err != nil {
		return &t, err
	}
	return &t, nil
}

// mergeProblems appends validation's problems to decoding's, leaving out
// each validation problem on a field that decoding refused, inside one, or
// holding one: those fields were validated as if not written, so what
// validation says about them is noise beside the decoding problem.
func mergeProblems(decoded problems, validationErr error) problems {
	out := problems{list: append([]Problem(nil), decoded.list...)}
	if validationErr == nil {
		return out
	}
	var verr *ValidationError
	if !errors.As(validationErr, &verr) {
		out.list = append(out.list, Problem{Reason: validationErr.Error()})
		return out
	}
	for _, vp := range verr.Problems {
		related := false
		for _, dp := range decoded.list {
			if pathRelated(vp.Field, dp.Field) {
				related = true
				break
			}
		}
		if !related {
			out.list = append(out.list, vp)
		}
	}
	return out
}

// pathRelated reports whether one field path is the other or contains it
// ("spec.steps[1]" contains "spec.steps[1].setWeight"). The document root
// ("") relates to nothing, so problems without a field are always kept.
func pathRelated(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return a == b || isWithin(a, b) || isWithin(b, a)
}

// isWithin reports whether path lies inside parent.
func isWithin(path, parent string) bool {
	rest, ok := strings.CutPrefix(path, parent)
	return ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "["))
}
