package localgrid

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// wait polls the master until the instance is reported started and its
// published URL answers.
func (u *upper) wait(ctx context.Context) error {
	began := time.Now()
	deadline := began.Add(u.o.Timeout)
	shown := ""
	show := func(status string) {
		elapsed := time.Since(began).Round(time.Second)
		switch {
		case u.o.Live:
			fmt.Fprintf(u.st.out, "\r\033[K%-12s %s: %s", "waiting", elapsed, status)
		case status != shown:
			u.st.printf("waiting", "%s: %s", elapsed, status)
		}
		shown = status
	}
	endLine := func() {
		if u.o.Live && shown != "" {
			fmt.Fprintln(u.st.out)
		}
	}
	for first := true; ; first = false {
		done, status, err := u.check(ctx)
		if err != nil {
			endLine()
			return err
		}
		if done {
			endLine()
			u.st.printf("started", "%s in %s: %s answered %q", InstanceTitle, time.Since(began).Round(100*time.Millisecond),
				u.res.InstanceURL, u.res.Answer)
			return nil
		}
		if first {
			u.st.printf("waiting", "for %s to answer (up to %s, a first build of the software included)", InstanceTitle, u.o.Timeout)
		}
		show(status)
		if time.Now().After(deadline) {
			endLine()
			return fmt.Errorf("%w: %s did not answer within %s: %s; see %s and %s",
				ErrTimeout, InstanceTitle, u.o.Timeout, status, Show(u.l.NodeLog()), Show(u.l.MasterLog()))
		}
		select {
		case <-ctx.Done():
			endLine()
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// check looks once at the software, the instance and its URL. A software
// release that fails to build is an error: waiting would not help.
func (u *upper) check(ctx context.Context) (done bool, status string, err error) {
	d, err := u.client.ComputerDetails(ctx, ComputerID)
	if err != nil {
		return false, "master: " + err.Error(), nil
	}
	sw := "not reported yet"
	for _, s := range d.Software {
		if s.URL != u.o.Software {
			continue
		}
		if s.Reported == model.SoftwareError {
			return false, "", fmt.Errorf("localgrid: the software release failed to build on %s: %s\n(see %s; fix it and run again)",
				ComputerID, s.ReportedError, Show(u.l.NodeLog()))
		}
		if s.Reported != "" {
			sw = string(s.Reported)
		}
	}
	inst, err := u.client.Instance(ctx, u.res.InstanceGUID)
	if err != nil {
		return false, "master: " + err.Error(), nil
	}
	u.res.PartitionID = inst.PartitionID
	instState := cmp.Or(string(inst.ReportedState), "not reported yet")
	if inst.ReportedError != "" {
		instState += " (" + firstLine(inst.ReportedError) + ")"
	}
	status = fmt.Sprintf("software %s, instance %s", sw, instState)
	link := inst.Connection["url"]
	if inst.ReportedState != model.ReportedStarted || link == "" {
		return false, status, nil
	}
	body, err := get(ctx, link)
	if err != nil {
		return false, fmt.Sprintf("%s; %s does not answer yet (%v)", status, link, err), nil
	}
	body = strings.TrimSpace(body)
	if !strings.Contains(body, u.o.Expect) {
		return false, fmt.Sprintf("%s; %s answers %q, not yet with %q", status, link, body, u.o.Expect), nil
	}
	u.res.InstanceURL, u.res.Answer = link, body
	return true, status, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100]) + "…"
	}
	return s
}

// get fetches a URL published by an instance.
func get(ctx context.Context, link string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("answered %s", resp.Status)
	}
	return string(body), nil
}
