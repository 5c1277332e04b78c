package embedded

import (
	"context"
	"testing"

	"gridbot/store/driver"
	"gridbot/store/storetest"
)

// openTest opens a writer engine on dir and closes it when the test ends.
func openTest(t testing.TB, dir string, opts Options) *Engine {
	t.Helper()
	e, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{Open: func(t *testing.T) (driver.Engine, func() (driver.Engine, error)) {
		dir := t.TempDir()
		e, err := Open(context.Background(), dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return e, func() (driver.Engine, error) {
			e, err := Open(context.Background(), dir, Options{})
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { e.Close() })
			return e, nil
		}
	}})
}
