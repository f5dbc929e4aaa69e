package agent

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/master/api"
)

// TestMasterOutcome: the master's answers that refuse the request itself
// are refusals (never sent again), those that say it is away or
// overloaded are "unreachable" (sent again), the others failures.
func TestMasterOutcome(t *testing.T) {
	apiErr := func(status int) error {
		return fmt.Errorf("agent: publishing: %w", &api.Error{Status: status, Code: "x", Message: "y"})
	}
	tests := []struct {
		err  error
		want agentcore.MasterAnswer
	}{
		{nil, agentcore.Answered},
		{apiErr(400), agentcore.AnswerRefused},
		{apiErr(403), agentcore.AnswerRefused},
		{apiErr(404), agentcore.AnswerRefused},
		{apiErr(409), agentcore.AnswerRefused},
		{apiErr(422), agentcore.AnswerRefused},
		{apiErr(401), agentcore.AnswerFailed},
		{apiErr(500), agentcore.AnswerFailed},
		{apiErr(502), agentcore.AnswerUnreachable},
		{apiErr(503), agentcore.AnswerUnreachable},
		{apiErr(504), agentcore.AnswerUnreachable},
		{&url.Error{Op: "Put", URL: "https://m", Err: errors.New("connection refused")}, agentcore.AnswerUnreachable},
		{context.DeadlineExceeded, agentcore.AnswerUnreachable},
		{errors.New("encoding the body"), agentcore.AnswerFailed},
	}
	for _, tt := range tests {
		if got := masterOutcome(tt.err).Answer(); got != tt.want {
			t.Errorf("masterOutcome(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
