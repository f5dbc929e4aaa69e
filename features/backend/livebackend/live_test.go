package livebackend

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
	"github.com/slapgo/slapgo/master/api"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"400", &api.Error{Status: 400, Code: api.CodeInvalid}, backend.ErrInvalid},
		{"413", &api.Error{Status: 413, Code: api.CodeTooLarge}, backend.ErrInvalid},
		{"401", &api.Error{Status: 401, Code: api.CodeUnauthenticated}, backend.ErrRefused},
		{"403", &api.Error{Status: 403, Code: api.CodeForbidden}, backend.ErrRefused},
		{"404", &api.Error{Status: 404, Code: api.CodeNotFound}, backend.ErrNotFound},
		{"409", &api.Error{Status: 409, Code: api.CodeConflict}, backend.ErrConflict},
		{"503", &api.Error{Status: 503, Code: api.CodeUnavailable}, backend.ErrUnavailable},
		{"500 stays unexpected", &api.Error{Status: 500, Code: api.CodeInternal}, nil},
		{"connection refused", &url.Error{Op: "Post", URL: "https://127.0.0.1:1", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, backend.ErrUnavailable},
		{"connection cut", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), backend.ErrUnavailable},
		{"unknown authority", &url.Error{Op: "Get", Err: x509.UnknownAuthorityError{}}, nil},
		{"server refuses the certificate", errors.New("remote error: tls: bad certificate"), backend.ErrRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := backend.ClassOf(classify(tt.err))
			if got != tt.want {
				t.Fatalf("classify(%v) is in class %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestWriteRelease(t *testing.T) {
	tests := []struct {
		defect string
		want   string // in software.cfg
	}{
		{"", "[tools]\nrecipe = shell\n"},
		{backend.DefectUnknownRecipe, "[tools]\nrecipe = shel\n"},
		{backend.DefectSyntax, "[tools\nrecipe = shell\n"},
	}
	for _, tt := range tests {
		t.Run("defect="+tt.defect, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hello")
			u, err := writeRelease(dir, backend.SoftwareSpec{Name: "hello", Defect: tt.defect})
			if err != nil {
				t.Fatal(err)
			}
			if u != "file://"+filepath.Join(dir, "software.cfg") {
				t.Fatalf("URL %s", u)
			}
			data, err := os.ReadFile(filepath.Join(dir, "software.cfg"))
			if err != nil || !strings.Contains(string(data), tt.want) {
				t.Fatalf("software.cfg lacks %q (%v):\n%s", tt.want, err, data)
			}
			if _, err := os.Stat(filepath.Join(dir, "instance.cfg.in")); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := writeRelease(t.TempDir(), backend.SoftwareSpec{Name: "x", Defect: "melted"}); !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("unknown defect: %v", err)
	}
}

func TestRelayCut(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	r, err := newRelay(func() []string { return []string{echo.Addr().String()} })
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	roundTrip := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != "ping" {
			return fmt.Errorf("echo %q", buf)
		}
		return nil
	}
	c, err := net.Dial("tcp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c); err != nil {
		t.Fatalf("through the relay: %v", err)
	}
	r.setCut(true)
	if err := roundTrip(c); err == nil {
		t.Fatal("a cut relay still carries an open connection")
	}
	c2, err := net.Dial("tcp", r.addr())
	if err == nil {
		if err := roundTrip(c2); err == nil {
			t.Fatal("a cut relay carries a new connection")
		}
		c2.Close()
	}
	r.setCut(false)
	c3, err := net.Dial("tcp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if err := roundTrip(c3); err != nil {
		t.Fatalf("after healing: %v", err)
	}
}

func TestForgedCertificateIsNotTheMasters(t *testing.T) {
	cert, err := stackkit.ForgeCertificate(backend.Person("alice"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "slapgo://person/alice" {
		t.Fatalf("the forged certificate names %v", leaf.URIs)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("the forged certificate verifies against an empty pool")
	}
}
