package onboarding_test

import (
	"testing"

	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
