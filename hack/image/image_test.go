package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// buildStatic builds a small static Linux binary as `make images` builds kubernaut's (the
// real binaries are built by `make images`; the whole module again with CGO_ENABLED=0 would
// cost `make test` minutes on a cold machine).
func buildStatic(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "kubernaut-actions")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the actions binary: %v\n%s", err, b)
	}
	return out
}

// untar unpacks an archive into a folder.
func untar(t *testing.T, archive string) string {
	t.Helper()
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// An image built without a daemon is an OCI archive whose image runs the binary as the
// non-root user, and the same binary gives the same digest.
func TestImageArchive(t *testing.T) {
	spec := Spec{Binary: buildStatic(t), Name: "/kubernaut-actions",
		Labels: map[string]string{"org.opencontainers.image.source": "https://github.com/kubernaut/kubernaut"}}
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "actions.oci.tar")
	if err := WriteArchive(img, "kubernaut-actions:test", archive); err != nil {
		t.Fatal(err)
	}

	// Read it back as a consumer would: the OCI layout inside the archive.
	lp, err := layout.FromPath(untar(t, archive))
	if err != nil {
		t.Fatalf("the archive is not an OCI image layout: %v", err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "kubernaut-actions:test" {
		t.Fatalf("index: %+v, want one image named kubernaut-actions:test", im.Manifests)
	}
	got, err := lp.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := got.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want %s", mt, types.OCIManifestSchema1)
	}
	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if u := cf.Config.User; u != "65532:65532" {
		t.Errorf("the image runs as %q, want the non-root 65532:65532", u)
	}
	if e := cf.Config.Entrypoint; len(e) != 1 || e[0] != "/kubernaut-actions" {
		t.Errorf("entrypoint %q, want [/kubernaut-actions]", e)
	}
	if cf.OS != "linux" || cf.Config.Labels["org.opencontainers.image.source"] == "" {
		t.Errorf("os %q, labels %v", cf.OS, cf.Config.Labels)
	}

	// The one layer holds the binary, executable, and the nonroot user.
	layers, err := got.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	seen := map[string]*tar.Header{}
	var passwd string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = h
		if h.Name == "etc/passwd" {
			b, _ := io.ReadAll(tr)
			passwd = string(b)
		}
	}
	if h := seen["kubernaut-actions"]; h == nil || h.Mode&0o111 == 0 {
		t.Errorf("the layer's binary: %+v, want an executable kubernaut-actions", h)
	}
	if !strings.Contains(passwd, "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user:\n%s", passwd)
	}
	if h := seen["tmp/"]; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp: %+v, want a sticky world-writable directory", h)
	}

	// Reproducible: the same binary, the same digest.
	again, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	d3, _ := got.Digest()
	if d1 != d2 || d1 != d3 {
		t.Errorf("digests %s, %s, read back %s: want one", d1, d2, d3)
	}
}

func TestBadImageInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"relative path in the image", Spec{Binary: text, Name: "kubernaut"}, `must be absolute, got "kubernaut"`},
		{"no binary", Spec{Binary: filepath.Join(dir, "missing"), Name: "/kubernaut"}, "reading the binary"},
		{"not a Linux binary", Spec{Binary: text, Name: "/kubernaut"}, "is not an ELF binary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
