package stackkit

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/master/api"
)

// Classify maps the client's errors to the backend's classes: an api.Error
// by its HTTP status, a refused certificate as backend.ErrRefused, a
// connection that fails as backend.ErrUnavailable. Other errors come back
// unchanged (nil stays nil).
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusBadRequest || ae.Status == http.StatusRequestEntityTooLarge:
			return fmt.Errorf("%w: %w", backend.ErrInvalid, err)
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			return fmt.Errorf("%w: %w", backend.ErrRefused, err)
		case ae.Status == http.StatusNotFound:
			return fmt.Errorf("%w: %w", backend.ErrNotFound, err)
		case ae.Status == http.StatusConflict:
			return fmt.Errorf("%w: %w", backend.ErrConflict, err)
		case ae.Status == http.StatusServiceUnavailable:
			return fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
		}
		return err
	}
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	msg := err.Error()
	switch {
	case errors.As(err, &certErr), errors.As(err, &alert),
		strings.Contains(msg, "tls: bad certificate"), strings.Contains(msg, "tls: unknown certificate"),
		strings.Contains(msg, "certificate required"):
		return fmt.Errorf("%w: the master refused the certificate: %w", backend.ErrRefused, err)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), IsNetError(err):
		return fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
	}
	return err
}

// IsNetError reports whether err is a network timeout or a failed network
// operation.
func IsNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) && ne.Timeout() || errors.As(err, &oe)
}
