package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/store"
)

// --- identities and credentials ---

func (s *Server) whoAmI(w http.ResponseWriter, r *http.Request, who model.Actor) {
	writeJSON(w, http.StatusOK, api.WhoAmI{Identity: who})
}

// issue issues a certificate for an identity and the record to store.
func (s *Server) issue(who model.Actor, now time.Time) (api.Credentials, store.Certificate, error) {
	is, err := s.ca.Issue(who, now)
	if err != nil {
		return api.Credentials{}, store.Certificate{}, err
	}
	return api.Credentials{Identity: who, CertificatePEM: string(is.CertPEM), KeyPEM: string(is.KeyPEM), CAPEM: string(s.ca.CertPEM())},
		store.Certificate{Serial: is.Serial, Identity: who, IssuedAt: now, NotAfter: is.NotAfter}, nil
}

func (s *Server) addPerson(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.AddPersonRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	var out api.AddPersonResponse
	res, err := s.exec(r.Context(), master.AddPerson{By: who, ID: req.ID, Name: req.Name, Email: req.Email},
		func(res master.Result) (store.Batch, error) {
			creds, rec, err := s.issue(model.Actor{Kind: model.KindPerson, ID: res.Person.ID}, s.now())
			out.Credentials = creds
			return store.Batch{Certificates: []store.Certificate{rec}}, err
		})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	out.Person = *res.Person
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listPersons(w http.ResponseWriter, r *http.Request, who model.Actor) {
	if who.Kind != model.KindAdmin {
		writeError(w, s.log, newError(http.StatusForbidden, api.CodeForbidden, "%s may not list persons: admin only", who))
		return
	}
	var out []model.Person
	if err := s.read(r.Context(), func(st *master.State) error {
		out = st.Persons()
		return nil
	}); err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) registerComputer(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.RegisterComputerRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	cmd := master.RegisterComputer{By: who, ID: req.ID, Title: req.Title, Owner: req.Owner, Region: req.Region,
		Network: req.Network, Hardware: req.Hardware, Attributes: req.Attributes, Prices: req.Prices,
		Currency: req.Currency, Scope: req.Scope}
	var out api.ComputerRegistration
	res, err := s.exec(r.Context(), cmd, func(res master.Result) (store.Batch, error) {
		now := s.now()
		if req.Token {
			text, tok, err := newToken(res.Computer.ID, now)
			if err != nil {
				return store.Batch{}, err
			}
			s.tokens[tok.Hash] = tok // s.mu is held
			out.Token = text
			return store.Batch{Tokens: []store.Token{tok}}, nil
		}
		creds, rec, err := s.issue(model.Actor{Kind: model.KindComputer, ID: res.Computer.ID}, now)
		out.Credentials = &creds
		return store.Batch{Certificates: []store.Certificate{rec}}, err
	})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	out.Computer = *res.Computer
	writeJSON(w, http.StatusCreated, out)
}

// newToken draws a registration token: its text (given once to the
// person) and its record (only the hash is kept).
func newToken(computerID string, now time.Time) (string, store.Token, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", store.Token{}, err
	}
	text := base64.RawURLEncoding.EncodeToString(b[:])
	return text, store.Token{Hash: hashToken(text), ComputerID: computerID, CreatedAt: now, ExpiresAt: now.Add(TokenValidity)}, nil
}

func hashToken(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// exchangeToken trades a one-time token for the computer's credentials
// (the only API route without a client certificate).
func (s *Server) exchangeToken(w http.ResponseWriter, r *http.Request, _ model.Actor) {
	req, err := decodeBody[api.TokenExchange](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if req.Token == "" {
		writeError(w, s.log, badRequest("field \"token\" is empty: expected the token given by `slapgo computer add --token`"))
		return
	}
	hash := hashToken(req.Token)
	s.mu.Lock()
	now := s.now()
	tok, ok := s.tokens[hash]
	var fail error
	switch {
	case !ok:
		fail = newError(http.StatusUnauthorized, api.CodeUnauthenticated, "registration token unknown: ask the computer's owner for a new one")
	case !tok.UsedAt.IsZero():
		fail = newError(http.StatusUnauthorized, api.CodeUnauthenticated, "registration token of computer %s was already used at %s: ask for a new one",
			tok.ComputerID, tok.UsedAt.Format(time.RFC3339))
	case !now.Before(tok.ExpiresAt):
		fail = newError(http.StatusUnauthorized, api.CodeUnauthenticated, "registration token of computer %s expired at %s: ask for a new one",
			tok.ComputerID, tok.ExpiresAt.Format(time.RFC3339))
	default:
		if _, exists := s.state.ViewVersion(tok.ComputerID); !exists {
			fail = newError(http.StatusUnauthorized, api.CodeUnauthenticated, "computer %s of this token is not registered", tok.ComputerID)
		}
	}
	if fail != nil {
		s.mu.Unlock()
		writeError(w, s.log, fail)
		return
	}
	creds, rec, err := s.issue(model.Actor{Kind: model.KindComputer, ID: tok.ComputerID}, now)
	if err != nil {
		s.mu.Unlock()
		writeError(w, s.log, err)
		return
	}
	tok.UsedAt = now
	s.tokens[hash] = tok
	s.noteCertificates([]store.Certificate{rec})
	seq, err := s.store.Submit(store.Batch{Tokens: []store.Token{tok}, Certificates: []store.Certificate{rec}})
	s.mu.Unlock()
	if err == nil {
		err = s.store.Wait(r.Context(), seq)
	}
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("computer registered with a token", "computer", tok.ComputerID, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, creds)
}

// partitionCertificate issues the certificate of the instance a partition
// holds, to the computer hosting that partition only.
func (s *Server) partitionCertificate(w http.ResponseWriter, r *http.Request, who model.Actor) {
	id, pid := r.PathValue("id"), r.PathValue("pid")
	var inst master.InstanceInfo
	err := s.read(r.Context(), func(st *master.State) error {
		var err error
		inst, err = partitionInstanceForCertificate(st, who, id, pid)
		return err
	})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	creds, _, err := s.issueRecorded(r.Context(), model.Actor{Kind: model.KindInstance, ID: inst.GUID})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, creds)
}

// issueRecorded issues a certificate for who and returns once its record
// is committed (the record is noted for authentication before it is
// submitted, in apply order, like every batch).
func (s *Server) issueRecorded(ctx context.Context, who model.Actor) (api.Credentials, store.Certificate, error) {
	creds, rec, err := s.issue(who, s.now())
	if err != nil {
		return creds, rec, err
	}
	s.mu.Lock()
	s.noteCertificates([]store.Certificate{rec})
	seq, err := s.store.Submit(store.Batch{Certificates: []store.Certificate{rec}})
	s.mu.Unlock()
	if err == nil {
		err = s.store.Wait(ctx, seq)
	}
	return creds, rec, err
}

// --- computers ---

func (s *Server) listComputers(w http.ResponseWriter, r *http.Request, who model.Actor) {
	var out []model.Computer
	err := s.read(r.Context(), func(st *master.State) error {
		out = st.Computers(who)
		return nil
	})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if out == nil {
		out = []model.Computer{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) computerDetails(w http.ResponseWriter, r *http.Request, who model.Actor) {
	id := r.PathValue("id")
	var out api.ComputerDetails
	err := s.read(r.Context(), func(st *master.State) error {
		c, err := st.Computer(who, id)
		if err != nil {
			return err
		}
		out = api.ComputerDetails{Computer: c, Partitions: st.Partitions(id), Software: st.Software(id)}
		return nil
	})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if out.Partitions == nil {
		out.Partitions = []model.Partition{}
	}
	if out.Software == nil {
		out.Software = []model.SoftwareInstallation{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) updateComputer(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.UpdateComputerRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.UpdateComputer{By: who, ComputerID: r.PathValue("id"), Region: req.Region,
		Network: req.Network, Attributes: req.Attributes, Prices: req.Prices, Scope: req.Scope}, nil)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res.Computer)
}

func (s *Server) supply(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.SupplyRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.Supply{By: who, ComputerID: r.PathValue("id"), URL: req.URL, State: req.State}, nil)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res.Software)
}

func (s *Server) setCapacity(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.CapacityRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	specs := make([]master.PartitionSpec, len(req.Partitions))
	for i, p := range req.Partitions {
		specs[i] = master.PartitionSpec{ID: p.ID, Addresses: p.Addresses}
	}
	res, err := s.exec(r.Context(), master.SetCapacity{By: who, ComputerID: r.PathValue("id"), Partitions: specs, Hardware: req.Hardware}, nil)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res.Computer)
}

func (s *Server) reportSoftware(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.SoftwareStateRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.ReportSoftware{By: who, ComputerID: r.PathValue("id"), URL: req.URL,
		State: req.State, Error: req.Error}, nil)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res.Software)
}

func (s *Server) reportPartition(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.PartitionStateRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.ReportPartition{By: who, ComputerID: r.PathValue("id"),
		PartitionID: r.PathValue("pid"), State: req.State, Error: req.Error}, nil)
	s.writeInstanceResult(w, res, err)
}

func (s *Server) setConnection(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.ConnectionRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.SetConnection{By: who, ComputerID: r.PathValue("id"),
		PartitionID: r.PathValue("pid"), SharedGUID: req.SharedGUID, Parameters: req.Parameters}, nil)
	s.writeInstanceResult(w, res, err)
}

func (s *Server) partitionDestroyed(w http.ResponseWriter, r *http.Request, who model.Actor) {
	if _, err := decodeBody[struct{}](w, r, true); err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.PartitionDestroyed{By: who, ComputerID: r.PathValue("id"), PartitionID: r.PathValue("pid")}, nil)
	s.writeInstanceResult(w, res, err)
}

func (s *Server) postUsage(w http.ResponseWriter, r *http.Request, who model.Actor) {
	data, err := readTypedBody(w, r, api.MaxUsageBody, mediaXML, "text/xml")
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	journal, err := account.DecodeJournal(data)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.PostUsage{By: who, ComputerID: r.PathValue("id"), Journal: journal}, nil)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, api.UsageResult{Movements: res.Movements, Duplicate: res.Duplicate})
}

// --- instances ---

// wireInstance is core/master's InstanceInfo on the wire (same fields).
func wireInstance(i master.InstanceInfo) api.Instance { return api.Instance(i) }

// writeInstanceResult answers the instance a command returned, 204 when
// it returned none.
func (s *Server) writeInstanceResult(w http.ResponseWriter, res master.Result, err error) {
	switch {
	case err != nil:
		writeError(w, s.log, err)
	case res.Instance == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, wireInstance(*res.Instance))
	}
}

func (s *Server) request(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.InstanceRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.Request{By: who, Title: req.Title, SoftwareRelease: req.SoftwareRelease,
		SoftwareType: req.SoftwareType, Parameters: req.Parameters, SLA: req.SLA, Shared: req.Shared, State: req.State}, nil)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	status := http.StatusOK
	if res.Instance.Status == master.StatusPending {
		status = http.StatusAccepted
	}
	writeJSON(w, status, wireInstance(*res.Instance))
}

func (s *Server) listInstances(w http.ResponseWriter, r *http.Request, who model.Actor) {
	all := false
	switch v := r.URL.Query().Get("all"); v {
	case "", "false":
	case "true":
		all = true
	default:
		writeError(w, s.log, badRequest("query parameter all=%q: expected true or false", v))
		return
	}
	var infos []master.InstanceInfo
	err := s.read(r.Context(), func(st *master.State) error {
		infos = st.Instances(who, all)
		return nil
	})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	out := make([]api.Instance, len(infos))
	for i, info := range infos {
		out[i] = wireInstance(info)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getInstance(w http.ResponseWriter, r *http.Request, who model.Actor) {
	var info master.InstanceInfo
	err := s.read(r.Context(), func(st *master.State) error {
		var err error
		info, err = st.Instance(who, r.PathValue("guid"))
		return err
	})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, wireInstance(info))
}

// instanceEvents answers an instance's recent events to whoever may read
// the instance.
func (s *Server) instanceEvents(w http.ResponseWriter, r *http.Request, who model.Actor) {
	out := []api.Event{}
	err := s.read(r.Context(), func(st *master.State) error {
		ev, err := st.InstanceEvents(who, r.PathValue("guid"))
		for _, e := range ev {
			out = append(out, api.Event{At: e.At, Kind: e.Kind.String(), Message: e.Message})
		}
		return err
	})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) bang(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.BangRequest](w, r, true)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.Bang{By: who, InstanceGUID: r.PathValue("guid"), Message: req.Message}, nil)
	s.writeInstanceResult(w, res, err)
}

func (s *Server) rename(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.RenameRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.Rename{By: who, InstanceGUID: r.PathValue("guid"), NewTitle: req.Title}, nil)
	s.writeInstanceResult(w, res, err)
}

func (s *Server) setState(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.StateRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := s.exec(r.Context(), master.SetState{By: who, InstanceGUID: r.PathValue("guid"), State: req.State}, nil)
	s.writeInstanceResult(w, res, err)
}

func (s *Server) pending(w http.ResponseWriter, r *http.Request, who model.Actor) {
	if who.Kind != model.KindAdmin {
		writeError(w, s.log, newError(http.StatusForbidden, api.CodeForbidden, "%s may not list pending requests: admin only", who))
		return
	}
	var infos []master.PendingInfo
	if err := s.read(r.Context(), func(st *master.State) error {
		infos = st.Pending()
		return nil
	}); err != nil {
		writeError(w, s.log, err)
		return
	}
	out := make([]api.Pending, len(infos))
	for i, p := range infos {
		out[i] = api.Pending(p)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) invoices(w http.ResponseWriter, r *http.Request, who model.Actor) {
	q := r.URL.Query()
	now := s.now()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := now
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, s.log, badRequest("query parameter %s=%q: expected an RFC 3339 time such as 2025-03-01T00:00:00Z", p.name, v))
				return
			}
			*p.t = t
		}
	}
	if !to.After(from) {
		writeError(w, s.log, badRequest("invoice period from=%s to=%s is empty: to must be after from", from.Format(time.RFC3339), to.Format(time.RFC3339)))
		return
	}
	var invs []account.Invoice
	err := s.read(r.Context(), func(st *master.State) error {
		var err error
		invs, err = st.Invoices(who, q.Get("person"), from, to, now)
		return err
	})
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	out := make([]api.Invoice, len(invs))
	for i, inv := range invs {
		lines := make([]api.InvoiceLine, len(inv.Lines))
		for j, l := range inv.Lines {
			lines[j] = api.InvoiceLine(l)
		}
		out[i] = api.Invoice{Person: inv.Person, PeriodStart: inv.PeriodStart, PeriodEnd: inv.PeriodEnd,
			Currency: inv.Currency, Lines: lines, Total: inv.Total, Movements: inv.Movements}
	}
	writeJSON(w, http.StatusOK, out)
}
