package embedded

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashDirEnv) != "" {
		os.Exit(crashHelper())
	}
	code := m.Run()
	removeBenchJournals()
	os.Exit(code)
}
