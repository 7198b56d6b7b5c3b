package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/kubernaut/kubernaut/hack/image"
)

// BuildNodeImages builds the test workload (test/node/workload) into dir and writes the pause
// and workload images (PauseImage, WorkloadImage) as OCI archives there; it returns their paths.
func BuildNodeImages(ctx context.Context, dir string) ([]string, error) {
	bin, err := buildStatic(ctx, dir, "workload", "./test/node/workload")
	if err != nil {
		return nil, err
	}
	pause, err := WriteImage(bin, "/workload", PauseImage, filepath.Join(dir, "pause.oci.tar"), "pause")
	if err != nil {
		return nil, err
	}
	workload, err := WriteImage(bin, "/workload", WorkloadImage, filepath.Join(dir, "workload.oci.tar"))
	if err != nil {
		return nil, err
	}
	return []string{pause, workload}, nil
}

// BuildActionsImage builds the actions image (actions-image) as ref into dir and returns the
// archive's path.
func BuildActionsImage(ctx context.Context, dir, ref string) (string, error) {
	bin, err := buildStatic(ctx, dir, "kubernaut-actions", "./actions-image")
	if err != nil {
		return "", err
	}
	return WriteImage(bin, "/kubernaut-actions", ref, filepath.Join(dir, "kubernaut-actions.oci.tar"))
}

// buildStatic builds the module's package pkg as a static Linux binary dir/name.
func buildStatic(ctx context.Context, dir, name, pkg string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// WriteImage writes an image of one static binary (at name in the image, with the default
// arguments cmd) as an OCI archive at out, named ref.
func WriteImage(bin, name, ref, out string, cmd ...string) (string, error) {
	img, err := image.Build(image.Spec{Binary: bin, Name: name, Cmd: cmd})
	if err != nil {
		return "", err
	}
	return out, image.WriteArchive(img, ref, out)
}
