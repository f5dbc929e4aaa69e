package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/store"
)

// apiError is an error with the status and code it is answered with.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, api.CodeInvalid, format, args...)
}

// toAPIError maps an error to its answer: core/master's sentinel errors to
// 400/403/404/409, a failed or closed store to 503, anything else to 500.
func toAPIError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, master.ErrInvalid):
		return newError(http.StatusBadRequest, api.CodeInvalid, "%s", withoutSentinel(err, master.ErrInvalid))
	case errors.Is(err, account.ErrJournal):
		return newError(http.StatusBadRequest, api.CodeInvalid, "%s", err)
	case errors.Is(err, master.ErrQuota):
		return newError(http.StatusForbidden, api.CodeQuotaExceeded, "%s", withoutSentinel(err, master.ErrForbidden))
	case errors.Is(err, master.ErrForbidden):
		return newError(http.StatusForbidden, api.CodeForbidden, "%s", withoutSentinel(err, master.ErrForbidden))
	case errors.Is(err, master.ErrNotFound):
		return newError(http.StatusNotFound, api.CodeNotFound, "%s", withoutSentinel(err, master.ErrNotFound))
	case errors.Is(err, master.ErrConflict):
		return newError(http.StatusConflict, api.CodeConflict, "%s", withoutSentinel(err, master.ErrConflict))
	case errors.Is(err, store.ErrFailed), errors.Is(err, store.ErrClosed):
		return newError(http.StatusServiceUnavailable, api.CodeUnavailable, "%s", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusServiceUnavailable, api.CodeUnavailable, "request abandoned before its changes were durable: %s", err)
	}
	return newError(http.StatusInternalServerError, api.CodeInternal, "%s", err)
}

// withoutSentinel is err's message without the sentinel's text it starts
// with: the answer's code already says it ("forbidden: X may not …" is
// answered as code forbidden, message "X may not …").
func withoutSentinel(err, sentinel error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, sentinel.Error()+": "); ok && rest != "" {
		return rest
	}
	return msg
}

func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	ae := toAPIError(err)
	if ae.status >= 500 {
		log.Error("request failed", "status", ae.status, "error", err)
	}
	writeJSON(w, ae.status, api.ErrorBody{Code: ae.code, Message: ae.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(api.ErrorBody{Code: api.CodeInternal, Message: "encoding the answer: " + err.Error()})
	}
	data = append(data, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(data)
}
