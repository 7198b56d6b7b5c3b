// Command build writes a container image of one static binary as an OCI archive, without a
// Docker daemon (hack/image). `make images` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kubernaut/kubernaut/hack/image"
)

func main() {
	binary := flag.String("binary", "", "the static Linux binary (CGO_ENABLED=0)")
	name := flag.String("name", "", "its path in the image, e.g. /kubernaut")
	ref := flag.String("ref", "", "the image's name in the archive, e.g. kubernaut:dev")
	out := flag.String("out", "", "the OCI archive to write")
	source := flag.String("source", "https://github.com/kubernaut/kubernaut", "org.opencontainers.image.source")
	version := flag.String("version", "dev", "org.opencontainers.image.version")
	files := map[string]string{}
	flag.Func("file", "a further executable, as /path/in/image=host-path (repeatable)", func(v string) error {
		in, host, ok := strings.Cut(v, "=")
		if !ok || !strings.HasPrefix(in, "/") || host == "" {
			return fmt.Errorf("want /path/in/image=host-path, got %q", v)
		}
		files[in] = host
		return nil
	})
	flag.Parse()
	if *binary == "" || *name == "" || *ref == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "build: --binary, --name, --ref and --out are required")
		os.Exit(2)
	}
	img, err := image.Build(image.Spec{Binary: *binary, Name: *name, Files: files,
		Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Labels:   map[string]string{"org.opencontainers.image.source": *source, "org.opencontainers.image.version": *version}})
	if err == nil {
		err = image.WriteArchive(img, *ref, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	d, _ := img.Digest()
	fmt.Printf("%s: %s (%s, runs as %d:%d)\n", *out, *ref, d, image.NonRoot, image.NonRoot)
}
