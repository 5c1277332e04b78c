package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestMissingDirs(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a")
	b := filepath.Join(a, "b")
	c := filepath.Join(b, "c")
	check := func(dir string, want ...string) {
		t.Helper()
		got, err := missingDirs(dir)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("missingDirs(%q) = %q, %v; want %q", dir, got, err, want)
		}
	}
	check(c, c, b, a)
	check(c+"/./", c, b, a) // cleaned
	check(root)             // exists
	if err := os.Mkdir(a, 0o700); err != nil {
		t.Fatal(err)
	}
	check(c, c, b)
	check(a)

	// A relative path stops at the working directory.
	check(filepath.Join("no such dir", "x"), filepath.Join("no such dir", "x"), "no such dir")

	// A file in the way is an error, as it is for os.MkdirAll.
	file := filepath.Join(root, "file")
	writeFile(t, file, nil)
	if got, err := missingDirs(filepath.Join(file, "x")); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("missingDirs under a file = %q, %v; want ENOTDIR", got, err)
	}
}

// recordDirSyncs makes syncDir report to the returned slice until the test
// ends.
func recordDirSyncs(t *testing.T) *[]string {
	var synced []string
	dirSynced = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { dirSynced = nil })
	return &synced
}

// TestOpenCreatesDirs checks that Open creates missing directories and
// fsyncs the entry of each: the parents of the directories it created, up
// to the first that existed, and the journal's directory for the file.
func TestOpenCreatesDirs(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	gridbot := filepath.Join(data, "gridbot")
	dir := filepath.Join(gridbot, "journal")
	path := filepath.Join(dir, "gridbot.journal")

	synced := recordDirSyncs(t)
	j, _ := openT(t, path, Options{})
	// dir twice: for the journal, then for its header copy
	if want := []string{gridbot, data, root, dir, dir}; !slices.Equal(*synced, want) {
		t.Errorf("synced %q, want %q", *synced, want)
	}
	if err := j.Append(context.Background(), []byte("r")); err != nil {
		t.Fatal(err)
	}
	closeT(t, j)
	for _, d := range []string{data, gridbot, dir} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a directory with mode 0700", d, fi.Mode(), err)
		}
	}

	// Reopening creates nothing and syncs no directory.
	*synced = nil
	j, got := openT(t, path, Options{})
	equalRecords(t, got, [][]byte{[]byte("r")})
	closeT(t, j)
	if len(*synced) != 0 {
		t.Errorf("reopening synced %q", *synced)
	}

	// A new file in an existing directory: only that directory.
	path2 := filepath.Join(gridbot, "second.journal")
	j, _ = openT(t, path2, Options{})
	closeT(t, j)
	if want := []string{gridbot, gridbot}; !slices.Equal(*synced, want) {
		t.Errorf("a new file in an existing directory synced %q, want %q", *synced, want)
	}
}
