// Package image builds Kubernaut's container images without a Docker daemon: one static Go
// binary on an empty base, the non-root user of distroless (65532) as the only user, written
// as an OCI image layout in a tar archive (`oci-archive:` for skopeo and podman; untarred, an
// OCI layout that `crane push` takes). `make images` runs it for kubernaut and the actions
// image.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the user and group the images run as (distroless' nonroot).
const NonRoot = 65532

// Spec says what goes into an image.
type Spec struct {
	// Binary is the path of the static binary to run.
	Binary string
	// Name is the binary's path in the image, e.g. /kubernaut.
	Name string
	// Labels are the image's OCI labels.
	Labels map[string]string
	// Platform is the binary's platform (linux/amd64 when empty).
	Platform v1.Platform
	// Cmd are the entrypoint's default arguments (none when empty).
	Cmd []string
	// Home is the image's HOME (/home/nonroot, the nonroot user's, when empty).
	Home string
	// Files are further files, by their absolute path in the image, read from the host path
	// each maps to (a binary's shared libraries, say); their folders are created.
	Files map[string]string
}

// epoch is the time of every file and of the image: the same inputs give the same digest.
var epoch = time.Unix(0, 0).UTC()

// Build assembles the image.
func Build(s Spec) (v1.Image, error) {
	if s.Name == "" || s.Name[0] != '/' {
		return nil, fmt.Errorf("image: the binary's path in the image must be absolute, got %q", s.Name)
	}
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("image: reading the binary: %w", err)
	}
	if len(bin) < 4 || string(bin[1:4]) != "ELF" {
		return nil, fmt.Errorf("image: %s is not an ELF binary (build it with GOOS=linux CGO_ENABLED=0)", s.Binary)
	}
	files := map[string]file{
		s.Name:        {data: bin, mode: 0o755},
		"/etc/passwd": {data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRoot, NonRoot), mode: 0o644},
		"/etc/group":  {data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", NonRoot), mode: 0o644},
	}
	dirs := []string{"/etc", "/home", "/home/nonroot", "/tmp"}
	for in, host := range s.Files {
		if in == "" || in[0] != '/' || files[in].data != nil {
			return nil, fmt.Errorf("image: a file's path in the image must be absolute and new, got %q", in)
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, fmt.Errorf("image: reading %s: %w", host, err)
		}
		files[in] = file{data: data, mode: 0o755}
		for d := filepath.Dir(in); d != "/" && !slices.Contains(dirs, d); d = filepath.Dir(d) {
			dirs = append(dirs, d)
		}
	}
	layerTar, err := tarOf(files, dirs)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: the layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "kubernaut hack/image: " + filepath.Base(s.Binary), Comment: "one static binary"}})
	if err != nil {
		return nil, fmt.Errorf("image: adding the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	p := s.Platform
	if p.OS == "" {
		p = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config.User = fmt.Sprintf("%d:%d", NonRoot, NonRoot)
	cf.Config.Entrypoint = []string{s.Name}
	cf.Config.Cmd = s.Cmd
	cf.Config.WorkingDir = "/"
	home := s.Home
	if home == "" {
		home = "/home/nonroot"
	}
	cf.Config.Env = []string{"PATH=/", "HOME=" + home}
	cf.Config.Labels = s.Labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: the config: %w", err)
	}
	return img, nil
}

// WriteArchive writes img as an OCI image layout in a tar archive at path.
func WriteArchive(img v1.Image, ref, path string) error {
	dir, err := os.MkdirTemp("", "kubernaut-image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("image: the layout: %w", err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		return fmt.Errorf("image: writing the image: %w", err)
	}
	files := map[string]file{}
	var dirs []string
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if info.IsDir() {
			dirs = append(dirs, "/"+rel)
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files["/"+rel] = file{data: data, mode: 0o644}
		return nil
	})
	if err != nil {
		return fmt.Errorf("image: reading the layout: %w", err)
	}
	archive, err := tarOf(files, dirs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, archive, 0o644)
}

type file struct {
	data []byte
	mode int64
}

// tarOf is a tar of the directories and files, sorted, owned by root, dated epoch; /tmp is
// world-writable with the sticky bit, /home/nonroot belongs to nonroot.
func tarOf(files map[string]file, dirs []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	sort.Strings(dirs)
	for _, d := range dirs {
		h := &tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}
		switch d {
		case "/tmp":
			h.Mode = 0o1777
		case "/home/nonroot":
			h.Uid, h.Gid, h.Mode = NonRoot, NonRoot, 0o700
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := files[n]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n[1:], Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
