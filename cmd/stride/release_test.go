package main

import (
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository's root, two levels up from cmd/stride.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// buildStatic builds stride as make release does for this machine's
// architecture: no cgo, time zones embedded, version and commit stamped.
func buildStatic(t *testing.T, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "timetzdata",
		"-ldflags", "-s -w -X main.version=v9.9.9-test -X main.commit=0123abc", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, b)
	}
}

// A release binary is static (no dynamic loader), stamped with its
// version and commit, and knows time zones without the system's tzdata.
func TestReleaseBinaryIsStaticAndStamped(t *testing.T) {
	if testing.Short() || goruntime.GOOS != "linux" {
		t.Skip("builds a linux binary")
	}
	bin := filepath.Join(t.TempDir(), "stride")
	buildStatic(t, bin)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the release binary asks for a dynamic loader: it is not static")
		}
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || string(out) != "stride v9.9.9-test\ncommit 0123abc\n" {
		t.Errorf("version: %q %v", out, err)
	}
	// make release builds every platform and writes checksums.
	dry, err := exec.Command("make", "-n", "-C", repoRoot(t), "release").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n release: %v\n%s", err, dry)
	}
	for _, want := range []string{"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64", "CGO_ENABLED=0", "-tags timetzdata", "main.commit=", "sha256sum stride-* > SHA256SUMS"} {
		if !strings.Contains(string(dry), want) {
			t.Errorf("make release lacks %q:\n%s", want, dry)
		}
	}
}

// containerEngine returns docker or podman when one can build and run
// images here, or "".
func containerEngine() string {
	for _, e := range []string{"docker", "podman"} {
		if exec.Command(e, "info").Run() == nil {
			return e
		}
	}
	return ""
}

// The image builds from the Dockerfile without pulling anything (scratch
// and a prebuilt static binary), runs as a non-root user, and turns
// healthy through its HEALTHCHECK (stride ready).
func TestContainerImageBuildsAndTurnsHealthy(t *testing.T) {
	engine := containerEngine()
	if engine == "" {
		t.Skip("neither docker nor podman can run images here (no engine); the image is built and started where one can")
	}
	root := repoRoot(t)
	ctx := t.TempDir()
	buildStatic(t, filepath.Join(ctx, "dist", "stride-linux-"+goruntime.GOARCH))
	for _, p := range []string{"Dockerfile", "deploy/image", "flows"} {
		dst := filepath.Join(ctx, filepath.Dir(p))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-r", filepath.Join(root, p), dst+"/").CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v %s", p, err, out)
		}
	}
	if out, err := exec.Command("cp", "/etc/ssl/certs/ca-certificates.crt", filepath.Join(ctx, "dist")).CombinedOutput(); err != nil {
		t.Fatalf("CA roots: %v %s", err, out)
	}
	tag := fmt.Sprintf("stride-test:%d", time.Now().UnixNano())
	if out, err := exec.Command(engine, "build", "--build-arg", "TARGETARCH="+goruntime.GOARCH, "-t", tag, ctx).CombinedOutput(); err != nil {
		t.Fatalf("%s build: %v\n%s", engine, err, out)
	}
	defer exec.Command(engine, "rmi", "-f", tag).Run()
	admin := freeAddr(t)
	out, err := exec.Command(engine, "run", "-d", "-p", admin+":8081", tag).CombinedOutput()
	if err != nil {
		t.Fatalf("%s run: %v\n%s", engine, err, out)
	}
	id := strings.TrimSpace(string(out))
	defer exec.Command(engine, "rm", "-f", id).Run()
	if user, _ := exec.Command(engine, "inspect", "-f", "{{.Config.User}}", id).Output(); strings.TrimSpace(string(user)) != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (not root)", user)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("never ready: %s", body)
			}
		} else if time.Now().After(deadline) {
			logs, _ := exec.Command(engine, "logs", id).CombinedOutput()
			t.Fatalf("never answered: %v\n%s", err, logs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
