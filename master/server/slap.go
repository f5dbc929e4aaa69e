package server

import (
	"compress/gzip"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/slap"
	"github.com/slapgo/slapgo/master/slap/xmlm"
	"github.com/slapgo/slapgo/master/store"
)

// Limits on SLAP request bodies (form encoded, payloads in XML: larger
// than the JSON they stand for).
const (
	maxSLAPForm      = 4 << 20
	maxSLAPLargeForm = 16 << 20 // format's computer description, usage journals
)

var slapView = viewFormat{index: 1, contentType: "application/xml", gzipLevel: gzip.DefaultCompression, plainErrors: true, encode: func(v *model.ComputerView) ([]byte, error) {
	return xmlm.Marshal(slap.Computer(v))
}}

// slapRoute is a SLAP handler: the form (query for GET, body for POST)
// and the caller.
type slapRoute func(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller)

// slapRoutes registers the SLAP calls on mux, at the root of the URL
// space as SlapOS masters serve them. insecurePerson is empty for the TLS
// listener (identity from the client certificate); otherwise every call
// acts for that person (see slapCaller).
func (s *Server) slapRoutes(mux *http.ServeMux, insecurePerson string) {
	add := func(method, name string, limit int64, h slapRoute) {
		pattern := method + " /" + name
		// Authentication is done here, not by instrument, so that its
		// refusals are plain text like every SLAP answer.
		wrapped := func(w http.ResponseWriter, r *http.Request, _ model.Actor) {
			var who model.Actor
			if insecurePerson == "" {
				var err error
				if who, err = s.authenticate(r); err != nil {
					writeSLAPError(w, s, err)
					return
				}
			}
			f, err := readSLAPForm(w, r, limit)
			if err != nil {
				writeSLAPError(w, s, err)
				return
			}
			h(w, r, f, slapCaller{who: who, insecurePerson: insecurePerson})
		}
		if insecurePerson != "" {
			pattern = "slap-loopback " + pattern
		}
		mux.Handle(method+" /"+name, s.instrument(pattern, true, wrapped))
	}
	add("GET", slap.RouteFullComputerInformation, 0, s.slapComputerInformation)
	add("GET", slap.RouteComputerInformation, 0, s.slapComputerInformation)
	add("GET", slap.RouteRegisterPartition, 0, s.slapRegisterPartition)
	add("GET", slap.RouteCertificate, 0, s.slapCertificate)
	add("GET", slap.RouteTreeAddresses, 0, s.slapTreeAddresses)
	add("POST", slap.RouteLoadConfiguration, maxSLAPLargeForm, s.slapLoadConfiguration)
	add("POST", slap.RouteSupply, maxSLAPForm, s.slapSupply)
	add("POST", slap.RouteRequest, maxSLAPForm, s.slapRequest)
	for route, state := range map[string]model.SoftwareState{
		slap.RouteBuildingSoftware: model.SoftwareBuilding, slap.RouteAvailableSoftware: model.SoftwareReadyAvailable,
		slap.RouteSoftwareError: model.SoftwareError, slap.RouteDestroyedSoftware: model.SoftwareRemoved,
	} {
		add("POST", route, maxSLAPForm, s.slapSoftwareState(state))
	}
	add("POST", slap.RouteStarted, maxSLAPForm, s.slapPartitionState(model.ReportedStarted))
	add("POST", slap.RouteStopped, maxSLAPForm, s.slapPartitionState(model.ReportedStopped))
	add("POST", slap.RouteInstanceError, maxSLAPForm, s.slapPartitionState(model.ReportedError))
	add("POST", slap.RouteDestroyed, maxSLAPForm, s.slapDestroyed)
	add("POST", slap.RouteBang, maxSLAPForm, s.slapBang)
	add("POST", slap.RouteComputerBang, maxSLAPForm, s.slapComputerBang)
	add("POST", slap.RouteRename, maxSLAPForm, s.slapRename)
	add("POST", slap.RouteConnection, maxSLAPForm, s.slapConnection)
	add("POST", slap.RouteRelatedInstances, maxSLAPForm, s.slapRelatedInstances)
	add("POST", slap.RouteUsage, maxSLAPLargeForm, s.slapUsage)
}

// --- forms, answers, errors ---

// slapForm is the fields of a SLAP call.
type slapForm struct{ v url.Values }

// readSLAPForm reads the query of a GET, the form-encoded body of a POST
// (at most limit bytes).
func readSLAPForm(w http.ResponseWriter, r *http.Request, limit int64) (slapForm, error) {
	if r.Method != http.MethodPost {
		return slapForm{r.URL.Query()}, nil
	}
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		if err := checkMediaType(ct, "application/x-www-form-urlencoded"); err != nil {
			return slapForm{}, err
		}
	}
	data, err := readBody(w, r, limit)
	if err != nil {
		return slapForm{}, err
	}
	if ct == "" && len(data) > 0 {
		return slapForm{}, unsupportedMedia("the request body has no Content-Type: expected application/x-www-form-urlencoded")
	}
	v, err := url.ParseQuery(string(data))
	if err != nil {
		return slapForm{}, badRequest("the form-encoded body is malformed: %v", err)
	}
	return slapForm{v}, nil
}

// get returns an optional field; the slap library sends None as "None".
func (f slapForm) get(name string) (string, error) {
	vals := f.v[name]
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", badRequest("form field %q is given %d times: expected once", name, len(vals))
	case vals[0] == slap.PythonNone:
		return "", nil
	}
	return vals[0], nil
}

// need returns a required field.
func (f slapForm) need(name string) (string, error) {
	v, err := f.get(name)
	if err == nil && v == "" {
		err = badRequest("form field %q is missing or empty", name)
	}
	return v, err
}

// needAll returns required fields, in order.
func (f slapForm) needAll(names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		v, err := f.need(n)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// marshalled decodes an xml_marshaller field; absent, it is def.
func (f slapForm) marshalled(name string, def xmlm.Value) (xmlm.Value, error) {
	raw, err := f.get(name)
	if err != nil || raw == "" {
		return def, err
	}
	v, err := xmlm.Unmarshal([]byte(raw))
	if err != nil {
		return xmlm.Value{}, badRequest("form field %q: %v", name, err)
	}
	return v, nil
}

// stringDict decodes a field holding a marshalled dict of strings.
func (f slapForm) stringDict(name string) (map[string]string, error) {
	v, err := f.marshalled(name, xmlm.Dict())
	if err != nil {
		return nil, err
	}
	if v.Kind == xmlm.KindNone {
		return nil, nil
	}
	m, err := v.StringMap("form field " + name)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

func writeSLAPText(w http.ResponseWriter, status int, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(text))
}

func writeSLAPValue(w http.ResponseWriter, s *Server, v xmlm.Value) {
	data, err := xmlm.Marshal(v)
	if err != nil {
		writeSLAPError(w, s, fmt.Errorf("server: encoding the SLAP answer: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// writeSLAPError answers an error as /api/v1 would (same status), with the
// message as plain text: the slap library reads only the status (404 not
// found, 408 not ready, anything else a failure).
func writeSLAPError(w http.ResponseWriter, s *Server, err error) {
	ae := toAPIError(err)
	if ae.status >= 500 {
		s.log.Error("SLAP request failed", "status", ae.status, "error", err)
	}
	writeSLAPText(w, ae.status, ae.message+"\n")
}

// --- identity ---

// slapCaller is who makes a SLAP call. Over TLS it is the client
// certificate's identity, used as it is: a computer's certificate for the
// node's calls, a person's for request and supply, an instance's
// (getComputerPartitionCertificate) for what runs inside a partition.
//
// On the insecure loopback listener there is no certificate: the call
// acts for the configured person, as the identity SlapOS's proxy would
// take: the computer named by computer_id for node calls (the person's
// computers only), the instance in the named partition for calls an
// instance makes, the person otherwise.
type slapCaller struct {
	who            model.Actor
	insecurePerson string
}

// node is the actor of a node call about computerID.
func (s *Server) slapNode(c slapCaller, computerID string) (model.Actor, error) {
	if c.insecurePerson == "" {
		return c.who, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loopbackComputer(c.insecurePerson, computerID)
}

// loopbackComputer: s.mu held.
func (s *Server) loopbackComputer(person, computerID string) (model.Actor, error) {
	comp, err := s.state.Computer(model.Actor{Kind: model.KindPerson, ID: person}, computerID)
	if err != nil {
		return model.Actor{}, err
	}
	if comp.Owner != person {
		return model.Actor{}, newError(http.StatusForbidden, api.CodeForbidden,
			"computer %s belongs to %s: the loopback listener acts for %s only", computerID, comp.Owner, person)
	}
	return model.Actor{Kind: model.KindComputer, ID: computerID}, nil
}

// slapRequester is the actor of requestComputerPartition: with a
// partition named (a request from inside an instance), the instance in
// that partition, which must be the certificate's; otherwise the caller.
func (s *Server) slapRequester(c slapCaller, f slapForm) (model.Actor, error) {
	pid, err := f.get("computer_partition_id")
	if err != nil {
		return model.Actor{}, err
	}
	if pid == "" {
		if c.insecurePerson != "" {
			return model.Actor{Kind: model.KindPerson, ID: c.insecurePerson}, nil
		}
		return c.who, nil
	}
	cid, err := f.need("computer_id")
	if err != nil {
		return model.Actor{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.insecurePerson != "" {
		if _, err := s.loopbackComputer(c.insecurePerson, cid); err != nil {
			return model.Actor{}, err
		}
	}
	inst, ok := s.state.InstanceInPartition(cid, pid)
	if !ok || inst.Status == master.StatusDestroyed {
		if c.insecurePerson == "" && c.who.Kind != model.KindInstance {
			return model.Actor{}, newError(http.StatusForbidden, api.CodeForbidden,
				"%s may not request for partition %s/%s: only the instance in it may, with its certificate", c.who, cid, pid)
		}
		return model.Actor{}, newError(http.StatusNotFound, api.CodeNotFound, "partition %s/%s holds no live instance to request for", cid, pid)
	}
	who := model.Actor{Kind: model.KindInstance, ID: inst.GUID}
	if c.insecurePerson == "" && c.who != who {
		return model.Actor{}, newError(http.StatusForbidden, api.CodeForbidden,
			"%s may not request for partition %s/%s: only the instance in it (%s) may, with its certificate", c.who, cid, pid, inst.GUID)
	}
	return who, nil
}

// slapPerson is the actor of a person's call (supply).
func slapPerson(c slapCaller) model.Actor {
	if c.insecurePerson != "" {
		return model.Actor{Kind: model.KindPerson, ID: c.insecurePerson}
	}
	return c.who
}

// --- node calls ---

func (s *Server) slapComputerInformation(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	id, err := f.need("computer_id")
	if err == nil {
		c.who, err = s.slapNode(c, id)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	s.serveView(w, r, c.who, id, slapView)
}

// partitionFields reads computer_id and computer_partition_id (or their
// registerComputerPartition names).
func partitionFields(f slapForm, computerField, partitionField string) (string, string, error) {
	v, err := f.needAll(computerField, partitionField)
	if err != nil {
		return "", "", err
	}
	return v[0], v[1], nil
}

func (s *Server) slapRegisterPartition(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	cid, pid, err := partitionFields(f, "computer_reference", "computer_partition_reference")
	if err == nil {
		c.who, err = s.slapNode(c, cid)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	var out xmlm.Value
	err = s.read(r.Context(), func(st *master.State) error {
		if c.who.Kind == model.KindInstance {
			// An instance reads its own partition only.
			me, err := st.Instance(c.who, c.who.ID)
			if err != nil {
				return err
			}
			if me.ComputerID != cid || me.PartitionID != pid {
				return newError(http.StatusForbidden, api.CodeForbidden, "%s may read its own partition only, not %s/%s", c.who, cid, pid)
			}
		} else if err := st.CanReadComputer(c.who, cid); err != nil {
			return err
		}
		view, err := st.ComputerView(cid)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(view.Partitions, func(p model.PartitionView) bool { return p.ID == pid })
		if i < 0 {
			return newError(http.StatusNotFound, api.CodeNotFound, "computer %s has no partition %s", cid, pid)
		}
		var conn map[string]string
		if inst, ok := st.InstanceInPartition(cid, pid); ok {
			conn = inst.Connection
		}
		out = slap.Partition(cid, &view.Partitions[i], conn)
		return nil
	})
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPValue(w, s, out)
}

// slapCertificates keeps the credentials issued to each instance through
// getComputerPartitionCertificate: slapgrid asks for them on every run and
// compares them with its files, so the same ones are answered until the
// master restarts (a new certificate then replaces the files once).
type slapCertificates struct {
	mu    sync.Mutex
	byKey map[string]slapCertificate // instance GUID
	// sweepAt: when byKey grows to it, the entries of instances gone are
	// dropped (then it doubles the entries kept).
	sweepAt int
}

// slapCertificate is an instance's certificate handed out over SLAP, with
// its record (to ask core/master whether it is still accepted).
type slapCertificate struct {
	creds api.Credentials
	rec   store.Certificate
}

// refused: core/master refuses the certificate (revoked, or its instance
// destroyed or gone). Called with s.mu held.
func (c slapCertificate) refused(st *master.State) bool {
	// NB: the CA writes a serial with its leading zero digits; core/master
	// keys revocations by the normalized form.
	serial, err := master.NormalizeSerial(c.rec.Serial)
	return err != nil || st.CertificateRefused(serial, c.rec.Identity, c.rec.IssuedAt) != nil
}

func (s *Server) slapCertificate(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	cid, pid, err := partitionFields(f, "computer_id", "computer_partition_id")
	if err == nil {
		c.who, err = s.slapNode(c, cid)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	var inst master.InstanceInfo
	err = s.read(r.Context(), func(st *master.State) error {
		var err error
		inst, err = hostedInstance(st, c.who, cid, pid)
		return err
	})
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	s.slapCerts.mu.Lock()
	defer s.slapCerts.mu.Unlock()
	cached, ok := s.slapCerts.byKey[inst.GUID]
	if inst.Status == master.StatusDestroyed {
		// slapgrid fetches the certificate of a partition it is taking
		// down too (node instance stops it, node report wipes it and
		// reports it destroyed), and takes any answer but 404 and 408 as
		// the master being unreachable: a refusal would stall the
		// destruction and send node instance offline. The instance's
		// certificate is refused from now on anyway, so no new one is
		// issued: the files keep the one handed out, or (after a restart
		// of the master) are emptied, as slapos proxy answers.
		writeSLAPValue(w, s, xmlm.StringDict(map[string]string{"certificate": cached.creds.CertificatePEM, "key": cached.creds.KeyPEM}))
		return
	}
	if ok {
		s.mu.Lock()
		ok = !cached.refused(s.state)
		s.mu.Unlock()
	}
	creds := cached.creds
	if !ok {
		var rec store.Certificate
		creds, rec, err = s.issueRecorded(r.Context(), model.Actor{Kind: model.KindInstance, ID: inst.GUID})
		if err != nil {
			writeSLAPError(w, s, err)
			return
		}
		if s.slapCerts.byKey == nil {
			s.slapCerts.byKey = map[string]slapCertificate{}
		}
		s.slapCerts.byKey[inst.GUID] = slapCertificate{creds: creds, rec: rec}
		if len(s.slapCerts.byKey) >= s.slapCerts.sweepAt {
			s.mu.Lock()
			for guid, c := range s.slapCerts.byKey {
				if c.refused(s.state) {
					delete(s.slapCerts.byKey, guid)
				}
			}
			s.mu.Unlock()
			s.slapCerts.sweepAt = 2*len(s.slapCerts.byKey) + 64
		}
	}
	writeSLAPValue(w, s, xmlm.StringDict(map[string]string{"certificate": creds.CertificatePEM, "key": creds.KeyPEM}))
}

// partitionInstanceForCertificate is the rule of POST
// /computers/{id}/partitions/{pid}/certificate: only the computer hosting
// a live instance gets its certificate.
func partitionInstanceForCertificate(st *master.State, who model.Actor, id, pid string) (master.InstanceInfo, error) {
	inst, err := hostedInstance(st, who, id, pid)
	if err == nil && inst.Status == master.StatusDestroyed {
		return master.InstanceInfo{}, newError(http.StatusConflict, api.CodeConflict, "instance %s in %s/%s is destroyed: it gets no certificate", inst.GUID, id, pid)
	}
	return inst, err
}

// hostedInstance is the instance a partition holds, destroyed or not, for
// the computer hosting that partition only.
func hostedInstance(st *master.State, who model.Actor, id, pid string) (master.InstanceInfo, error) {
	if err := st.CanReadComputer(who, id); err != nil {
		return master.InstanceInfo{}, err
	}
	if who.Kind != model.KindComputer {
		return master.InstanceInfo{}, newError(http.StatusForbidden, api.CodeForbidden,
			"%s may not fetch instance certificates: only the computer hosting the partition may", who)
	}
	if inst, ok := st.InstanceInPartition(id, pid); ok {
		return inst, nil
	}
	if slices.ContainsFunc(st.Partitions(id), func(p model.Partition) bool { return p.ID == pid }) {
		return master.InstanceInfo{}, newError(http.StatusConflict, api.CodeConflict, "partition %s/%s is free: no instance to certify", id, pid)
	}
	return master.InstanceInfo{}, newError(http.StatusNotFound, api.CodeNotFound, "computer %s has no partition %s", id, pid)
}

func (s *Server) slapLoadConfiguration(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	v, err := f.marshalled("xml", xmlm.None())
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	if v.Kind == xmlm.KindNone {
		writeSLAPError(w, s, badRequest(`form field "xml" is missing: expected the computer description of slapos node format`))
		return
	}
	cid, parts, err := slap.ReadComputerConfiguration(v)
	if err != nil {
		writeSLAPError(w, s, badRequest("form field \"xml\": %v", err))
		return
	}
	if c.insecurePerson != "" {
		// slapproxy registers the computer a format names; so does the
		// loopback listener, for its person.
		if err := s.loopbackRegister(r, c.insecurePerson, cid); err != nil {
			writeSLAPError(w, s, err)
			return
		}
	}
	who, err := s.slapNode(c, cid)
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	specs := make([]master.PartitionSpec, len(parts))
	for i, p := range parts {
		specs[i] = master.PartitionSpec{ID: p.ID, Addresses: p.Addresses}
	}
	if _, err := s.exec(r.Context(), master.SetCapacity{By: who, ComputerID: cid, Partitions: specs}, nil); err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPText(w, http.StatusOK, "done")
}

// loopbackRegister registers computerID for person unless it exists.
func (s *Server) loopbackRegister(r *http.Request, person, computerID string) error {
	s.mu.Lock()
	_, exists := s.state.ViewVersion(computerID)
	s.mu.Unlock()
	if exists {
		return nil
	}
	_, err := s.exec(r.Context(), master.RegisterComputer{By: model.Actor{Kind: model.KindPerson, ID: person}, ID: computerID}, nil)
	if errors.Is(err, master.ErrConflict) {
		return nil // registered meanwhile
	}
	return err
}

func (s *Server) slapSoftwareState(state model.SoftwareState) slapRoute {
	return func(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
		v, err := f.needAll("url", "computer_id")
		if err != nil {
			writeSLAPError(w, s, err)
			return
		}
		errorLog := ""
		if state == model.SoftwareError {
			if errorLog, err = f.get("error_log"); err != nil {
				writeSLAPError(w, s, err)
				return
			}
		}
		who, err := s.slapNode(c, v[1])
		if err == nil {
			_, err = s.exec(r.Context(), master.ReportSoftware{By: who, ComputerID: v[1], URL: v[0], State: state, Error: errorLog}, nil)
		}
		if err != nil {
			writeSLAPError(w, s, err)
			return
		}
		writeSLAPText(w, http.StatusOK, "OK")
	}
}

func (s *Server) slapPartitionState(state model.ReportedState) slapRoute {
	return func(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
		cid, pid, err := partitionFields(f, "computer_id", "computer_partition_id")
		if err != nil {
			writeSLAPError(w, s, err)
			return
		}
		errorLog := ""
		if state == model.ReportedError {
			if errorLog, err = f.get("error_log"); err != nil {
				writeSLAPError(w, s, err)
				return
			}
			shared, err := f.get("slave_reference")
			if err != nil {
				writeSLAPError(w, s, err)
				return
			}
			if shared != "" {
				// slapgo keeps no state per shared instance error: it is
				// logged for the operator, and answered as accepted.
				who, err := s.slapNode(c, cid)
				if err == nil {
					err = s.checkPartitionCaller(r, who, cid, pid)
				}
				if err == nil {
					_, err = s.partitionInstance(who, cid, pid, shared)
				}
				if err != nil {
					writeSLAPError(w, s, err)
					return
				}
				s.log.Warn("shared instance error reported", "computer", cid, "partition", pid, "shared", shared, "error", errorLog)
				writeSLAPText(w, http.StatusOK, "OK")
				return
			}
		}
		who, err := s.slapNode(c, cid)
		if err == nil {
			_, err = s.exec(r.Context(), master.ReportPartition{By: who, ComputerID: cid, PartitionID: pid, State: state, Error: errorLog}, nil)
		}
		if err != nil {
			writeSLAPError(w, s, err)
			return
		}
		writeSLAPText(w, http.StatusOK, "OK")
	}
}

func (s *Server) slapDestroyed(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	cid, pid, err := partitionFields(f, "computer_id", "computer_partition_id")
	if err == nil {
		var who model.Actor
		if who, err = s.slapNode(c, cid); err == nil {
			_, err = s.exec(r.Context(), master.PartitionDestroyed{By: who, ComputerID: cid, PartitionID: pid}, nil)
		}
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPText(w, http.StatusOK, "OK")
}

// checkPartitionCaller lets a computer speak for its partitions and an
// instance for its own partition only.
func (s *Server) checkPartitionCaller(r *http.Request, who model.Actor, cid, pid string) error {
	return s.read(r.Context(), func(st *master.State) error {
		if who.Kind != model.KindInstance {
			return st.CanReadComputer(who, cid)
		}
		me, err := st.Instance(who, who.ID)
		if err == nil && (me.ComputerID != cid || me.PartitionID != pid) {
			err = newError(http.StatusForbidden, api.CodeForbidden, "%s may speak for its own partition only, not %s/%s", who, cid, pid)
		}
		return err
	})
}

// partitionInstance finds the instance a partition-level call is about:
// slave_reference when given (a shared instance it hosts), else the
// instance in the partition.
func (s *Server) partitionInstance(who model.Actor, cid, pid, shared string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.state.CanReadComputer(who, cid); err != nil && who.Kind != model.KindInstance {
		return "", err
	}
	inst, ok := s.state.InstanceInPartition(cid, pid)
	if !ok {
		if _, known := s.state.ViewVersion(cid); !known || !slices.ContainsFunc(s.state.Partitions(cid), func(p model.Partition) bool { return p.ID == pid }) {
			return "", newError(http.StatusNotFound, api.CodeNotFound, "computer %s has no partition %s", cid, pid)
		}
		return "", newError(http.StatusConflict, api.CodeConflict, "partition %s/%s is free: no instance there", cid, pid)
	}
	if shared == "" {
		return inst.GUID, nil
	}
	sh, err := s.state.Instance(model.Admin, shared)
	if err != nil || !sh.Shared || sh.HostGUID != inst.GUID {
		return "", newError(http.StatusNotFound, api.CodeNotFound, "shared instance %s is not hosted in %s/%s", shared, cid, pid)
	}
	return sh.GUID, nil
}

func (s *Server) slapBang(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	cid, pid, err := partitionFields(f, "computer_id", "computer_partition_id")
	var msg string
	if err == nil {
		msg, err = f.get("message")
	}
	var who model.Actor
	if err == nil {
		who, err = s.slapNode(c, cid)
	}
	var guid string
	if err == nil {
		guid, err = s.partitionInstance(who, cid, pid, "")
	}
	if err == nil {
		_, err = s.exec(r.Context(), master.Bang{By: who, InstanceGUID: guid, Message: msg}, nil)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPText(w, http.StatusOK, "OK")
}

// slapTreeAddresses: getHostingSubscriptionIpList, read by slapgrid when a
// [firewall] is configured; by the hosting computer or the instance.
func (s *Server) slapTreeAddresses(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	cid, pid, err := partitionFields(f, "computer_id", "computer_partition_id")
	var who model.Actor
	if err == nil {
		who, err = s.slapNode(c, cid)
	}
	var addrs []model.Address
	if err == nil {
		err = s.read(r.Context(), func(st *master.State) error {
			var err error
			addrs, err = st.TreeAddresses(who, cid, pid)
			return err
		})
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPValue(w, s, slap.AddressList(addrs))
}

// slapComputerBang: slapos node bang, which slapos node boot runs after a
// reboot until it succeeds; every instance the computer hosts is processed
// again.
func (s *Server) slapComputerBang(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	v, err := f.needAll("computer_id")
	var msg string
	if err == nil {
		msg, err = f.get("message")
	}
	var who model.Actor
	if err == nil {
		who, err = s.slapNode(c, v[0])
	}
	if err == nil {
		_, err = s.exec(r.Context(), master.BangComputer{By: who, ComputerID: v[0], Message: msg}, nil)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPText(w, http.StatusOK, "OK")
}

func (s *Server) slapRename(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	v, err := f.needAll("computer_id", "computer_partition_id", "new_name")
	var shared string
	if err == nil {
		shared, err = f.get("slave_reference")
	}
	var who model.Actor
	if err == nil {
		who, err = s.slapNode(c, v[0])
	}
	var guid string
	if err == nil {
		guid, err = s.partitionInstance(who, v[0], v[1], shared)
	}
	if err == nil {
		_, err = s.exec(r.Context(), master.Rename{By: who, InstanceGUID: guid, NewTitle: v[2]}, nil)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPText(w, http.StatusOK, "done")
}

func (s *Server) slapConnection(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	cid, pid, err := partitionFields(f, "computer_id", "computer_partition_id")
	var shared string
	if err == nil {
		shared, err = f.get("slave_reference")
	}
	var params map[string]string
	if err == nil {
		params, err = f.stringDict("connection_xml")
	}
	var who model.Actor
	if err == nil {
		who, err = s.slapNode(c, cid)
	}
	if err == nil {
		_, err = s.exec(r.Context(), master.SetConnection{By: who, ComputerID: cid, PartitionID: pid, SharedGUID: shared, Parameters: params}, nil)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPText(w, http.StatusOK, "done")
}

// slapRelatedInstances accepts the list of instances a partition
// requested (slapgrid sends it after each run). slapgo knows each tree
// from its requests: the list is checked and changes nothing.
func (s *Server) slapRelatedInstances(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	cid, pid, err := partitionFields(f, "computer_id", "computer_partition_id")
	var list xmlm.Value
	if err == nil {
		list, err = f.marshalled("instance_reference_xml", xmlm.List())
	}
	if err == nil && list.Kind != xmlm.KindList {
		err = badRequest("form field \"instance_reference_xml\" is a %s: expected a list of titles", list.Kind)
	}
	var who model.Actor
	if err == nil {
		who, err = s.slapNode(c, cid)
	}
	if err == nil {
		err = s.checkPartitionCaller(r, who, cid, pid)
	}
	if err == nil {
		_, err = s.partitionInstance(who, cid, pid, "")
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPText(w, http.StatusOK, "OK")
}

func (s *Server) slapUsage(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	v, err := f.needAll("computer_id", "use_string")
	var journal account.Journal
	if err == nil {
		journal, err = account.DecodeJournal([]byte(v[1]))
	}
	var who model.Actor
	if err == nil {
		who, err = s.slapNode(c, v[0])
	}
	if err == nil {
		_, err = s.exec(r.Context(), master.PostUsage{By: who, ComputerID: v[0], Journal: journal}, nil)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPText(w, http.StatusOK, "OK")
}

// --- person and instance calls ---

func (s *Server) slapSupply(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	v, err := f.needAll("url", "computer_id")
	state := "available"
	if err == nil {
		if st, err2 := f.get("state"); err2 != nil {
			err = err2
		} else if st != "" {
			state = st
		}
	}
	if err == nil {
		_, err = s.exec(r.Context(), master.Supply{By: slapPerson(c), ComputerID: v[1], URL: v[0], State: model.SoftwareRequest(state)}, nil)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	writeSLAPText(w, http.StatusOK, fmt.Sprintf("Supplied %q to be %s", v[0], state))
}

// slapRequest maps requestComputerPartition onto master.Request. A request
// not placed yet answers 408, which the slap library reads as "not ready".
func (s *Server) slapRequest(w http.ResponseWriter, r *http.Request, f slapForm, c slapCaller) {
	req, err := readSLAPRequest(f)
	if err == nil {
		req.By, err = s.slapRequester(c, f)
	}
	var res master.Result
	if err == nil {
		res, err = s.exec(r.Context(), req, nil)
	}
	if err != nil {
		writeSLAPError(w, s, err)
		return
	}
	inst := res.Instance
	ri := slap.RequestedInstance{GUID: inst.GUID, Title: inst.Title, ComputerID: inst.ComputerID, PartitionID: inst.PartitionID,
		SoftwareRelease: inst.SoftwareRelease, SoftwareType: inst.SoftwareType, State: inst.RequestedState,
		Parameters: inst.Parameters, Connection: inst.Connection, Addresses: inst.Addresses, Version: inst.Version}
	if inst.Shared && inst.HostGUID != "" {
		// The slap library reads the host's partition for a shared instance.
		err = s.read(r.Context(), func(st *master.State) error {
			host, err := st.Instance(model.Admin, inst.HostGUID)
			ri.ComputerID, ri.PartitionID, ri.Addresses = host.ComputerID, host.PartitionID, host.Addresses
			return err
		})
		if err != nil {
			writeSLAPError(w, s, err)
			return
		}
	}
	if ri.ComputerID == "" || ri.PartitionID == "" {
		reason := inst.PendingReason
		if reason == "" {
			reason = "instance " + inst.Status
		}
		writeSLAPText(w, http.StatusRequestTimeout, "not ready: "+reason+"\n")
		return
	}
	writeSLAPValue(w, s, slap.SoftwareInstance(ri))
}

// readSLAPRequest decodes the fields of requestComputerPartition.
func readSLAPRequest(f slapForm) (master.Request, error) {
	v, err := f.needAll("software_release", "partition_reference")
	if err != nil {
		return master.Request{}, err
	}
	req := master.Request{SoftwareRelease: v[0], Title: v[1]}
	if req.SoftwareType, err = f.get("software_type"); err != nil {
		return req, err
	}
	if req.Parameters, err = f.stringDict("partition_parameter_xml"); err != nil {
		return req, err
	}
	if req.SLA, err = f.stringDict("filter_xml"); err != nil {
		return req, err
	}
	state, err := f.marshalled("state", xmlm.None())
	if err != nil {
		return req, err
	}
	switch state.Kind {
	case xmlm.KindNone:
	case xmlm.KindString:
		req.State = model.RequestedState(state.Str)
	default:
		return req, badRequest("form field \"state\" is a %s: expected started, stopped, destroyed or None", state.Kind)
	}
	shared, err := f.marshalled("shared_xml", xmlm.Bool(false))
	if err != nil {
		return req, err
	}
	switch shared.Kind {
	case xmlm.KindBool:
		req.Shared = shared.Bool
	case xmlm.KindNone:
	default:
		return req, badRequest("form field \"shared_xml\" is a %s: expected a bool", shared.Kind)
	}
	return req, nil
}

// --- the insecure loopback listener ---

// slapLoopback is the plain-HTTP SLAP listener acting for one person (see
// EnableSLAPLoopback).
type slapLoopback struct {
	ln      net.Listener
	person  string
	handler http.Handler
}

// EnableSLAPLoopback makes Serve also answer SLAP in plain HTTP on ln,
// without certificates, every call acting for person (the computers a
// node call names must be that person's; a computer that
// loadComputerConfigurationFromXML names is registered for it, as SlapOS's
// proxy does). It is the parity of `slapos proxy` for work on one machine:
// ln must listen on a loopback address, and requests a browser could have
// sent (an Origin or Sec-Fetch-Mode header, a Host that is not a loopback
// name) are refused with 403. Call it before Serve.
func (s *Server) EnableSLAPLoopback(ln net.Listener, person string) error {
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !addr.IP.IsLoopback() {
		return fmt.Errorf("server: the insecure SLAP listener %s is not on a loopback address: refused (it has no authentication)", ln.Addr())
	}
	s.mu.Lock()
	_, exists := s.state.Person(person)
	s.mu.Unlock()
	if !exists {
		return fmt.Errorf("server: the insecure SLAP listener would act for person %q, who does not exist: add the person first (slapgo person add)", person)
	}
	mux := http.NewServeMux()
	s.slapRoutes(mux, person)
	mux.Handle("/", s.instrument("slap-loopback unmatched", true, func(w http.ResponseWriter, r *http.Request, _ model.Actor) {
		writeSLAPText(w, http.StatusNotFound, "no SLAP call "+r.Method+" "+r.URL.Path+"\n")
	}))
	s.loopback = &slapLoopback{ln: ln, person: person, handler: refuseBrowsers(mux)}
	return nil
}

// refuseBrowsers turns away requests a web page could make a browser send
// to a loopback port (cross-site form posts, DNS rebinding).
func refuseBrowsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		ip := net.ParseIP(strings.Trim(host, "[]"))
		switch {
		case r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Mode") != "":
			writeSLAPText(w, http.StatusForbidden, "the insecure SLAP listener refuses requests from web browsers\n")
		case host != "localhost" && (ip == nil || !ip.IsLoopback()):
			writeSLAPText(w, http.StatusForbidden, fmt.Sprintf("the insecure SLAP listener answers only for loopback names, not Host %q\n", r.Host))
		default:
			next.ServeHTTP(w, r)
		}
	})
}
