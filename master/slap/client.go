package slap

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/slap/xmlm"
)

// Client speaks SLAP to a master (slapgo's, or SlapOS's) with the same
// methods as api.Client has for what a node agent asks, so the agent
// drives either. A Client made for a partition (ForPartition) makes the
// calls an instance makes through its partition (request, bang).
type Client struct {
	base string // master URL, ending in "/"
	HTTP *http.Client
	// computerID, partitionID: the partition an instance client speaks
	// for ("" for the computer's client).
	computerID, partitionID string

	mu sync.Mutex
	// where maps each instance GUID of the last view to its partition
	// (SLAP bangs a partition, not an instance), on viewOf.
	where  map[string]string
	viewOf string
}

// NewClient makes a client for a master URL with a TLS configuration
// (client certificate, master's CA), as api.TLSConfig makes it.
func NewClient(masterURL string, cfg *tls.Config) (*Client, error) {
	u, err := url.Parse(masterURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("slap: master URL %q: expected https://host[:port][/path]", masterURL)
	}
	base := masterURL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &Client{base: base, HTTP: &http.Client{Transport: tr, Timeout: time.Minute}}, nil
}

// ForPartition is a client of the instance in computerID/partitionID,
// with that instance's TLS configuration.
func ForPartition(masterURL string, cfg *tls.Config, computerID, partitionID string) (*Client, error) {
	c, err := NewClient(masterURL, cfg)
	if err == nil {
		c.computerID, c.partitionID = computerID, partitionID
	}
	return c, err
}

// call sends one SLAP call (the query of a GET, the form of a POST) and
// returns the answer's body and headers. header adds request headers.
func (c *Client) call(ctx context.Context, method, route string, form url.Values, header ...string) (int, []byte, http.Header, error) {
	u := c.base + route
	var body io.Reader
	if method == http.MethodGet {
		if len(form) > 0 {
			u += "?" + form.Encode()
		}
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("slap: %w", err)
	}
	req.Header.Set("Accept", "*/*")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("slap: %s: %w", route, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("slap: %s: reading the answer: %w", route, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNotModified, http.StatusRequestTimeout:
		return resp.StatusCode, data, resp.Header, nil
	}
	return resp.StatusCode, nil, nil, answerError(route, resp.StatusCode, data)
}

func (c *Client) post(ctx context.Context, route string, fields ...string) error {
	form := url.Values{}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	status, _, _, err := c.call(ctx, http.MethodPost, route, form)
	if err == nil && status != http.StatusOK {
		err = answerError(route, status, nil)
	}
	return err
}

// answerError is an answer other than 200 as the api package's error, so
// that callers tell refusals from outages the same way on both protocols.
func answerError(route string, status int, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 2048 {
		msg = msg[:2048] + "…"
	}
	return &api.Error{Status: status, Code: "slap", Message: route + ": " + msg}
}

// ComputerView fetches the computer's view (getFullComputerInformation);
// with etag, a 304 answers notModified.
func (c *Client) ComputerView(ctx context.Context, id, etag string) (view *model.ComputerView, newETag string, notModified bool, err error) {
	var hdr []string
	if etag != "" {
		hdr = []string{"If-None-Match", etag}
	}
	status, data, h, err := c.call(ctx, http.MethodGet, RouteFullComputerInformation, url.Values{"computer_id": {id}}, hdr...)
	if err != nil {
		return nil, "", false, err
	}
	if status == http.StatusNotModified {
		return nil, etag, true, nil
	}
	v, err := xmlm.Unmarshal(data)
	if err != nil {
		return nil, "", false, fmt.Errorf("slap: %s: %w", RouteFullComputerInformation, err)
	}
	cv, err := ReadComputer(v)
	if err != nil {
		return nil, "", false, fmt.Errorf("slap: %s: %w", RouteFullComputerInformation, err)
	}
	if cv.ComputerID == "" {
		cv.ComputerID = id
	}
	cv.Version = versionOf(h.Get("ETag") + "\x00" + string(data))
	where := map[string]string{}
	for _, p := range cv.Partitions {
		if p.InstanceGUID != "" {
			where[p.InstanceGUID] = p.ID
		}
	}
	c.mu.Lock()
	c.where, c.viewOf = where, id
	c.mu.Unlock()
	return &cv, h.Get("ETag"), false, nil
}

// SetCapacity announces the partitions (loadComputerConfigurationFromXML,
// a computer description in slapformat's shape; each address also names
// its interface as network_interface).
func (c *Client) SetCapacity(ctx context.Context, id string, r api.CapacityRequest) error {
	parts := make([]xmlm.Value, len(r.Partitions))
	for i, p := range r.Partitions {
		addrs := make([]xmlm.Value, len(p.Addresses))
		for j, a := range p.Addresses {
			addrs[j] = xmlm.Dict(xmlm.String("addr"), xmlm.String(a.Addr), xmlm.String("netmask"), xmlm.String(""),
				xmlm.String("network_interface"), xmlm.String(a.Iface))
		}
		parts[i] = xmlm.Dict(xmlm.String("address_list"), xmlm.List(addrs...), xmlm.String("reference"), xmlm.String(p.ID),
			xmlm.String("tap"), xmlm.None())
	}
	doc, err := xmlm.Marshal(xmlm.Dict(xmlm.String("partition_list"), xmlm.List(parts...), xmlm.String("reference"), xmlm.String(id)))
	if err != nil {
		return fmt.Errorf("slap: %w", err)
	}
	return c.post(ctx, RouteLoadConfiguration, "xml", string(doc))
}

// ReportSoftware reports a software release's state.
func (c *Client) ReportSoftware(ctx context.Context, id string, r api.SoftwareStateRequest) error {
	route := map[model.SoftwareState]string{model.SoftwareBuilding: RouteBuildingSoftware, model.SoftwareReadyAvailable: RouteAvailableSoftware,
		model.SoftwareError: RouteSoftwareError, model.SoftwareRemoved: RouteDestroyedSoftware}[r.State]
	if route == "" {
		return fmt.Errorf("slap: software state %q has no SLAP call", r.State)
	}
	fields := []string{"url", r.URL, "computer_id", id}
	if r.State == model.SoftwareError {
		fields = append(fields, "error_log", r.Error)
	}
	return c.post(ctx, route, fields...)
}

// ReportPartition reports a partition's state.
func (c *Client) ReportPartition(ctx context.Context, id, pid string, r api.PartitionStateRequest) error {
	route := map[model.ReportedState]string{model.ReportedStarted: RouteStarted, model.ReportedStopped: RouteStopped,
		model.ReportedError: RouteInstanceError}[r.State]
	if route == "" {
		return fmt.Errorf("slap: partition state %q has no SLAP call", r.State)
	}
	fields := []string{"computer_id", id, "computer_partition_id", pid}
	if r.State == model.ReportedError {
		fields = append(fields, "error_log", r.Error)
	}
	return c.post(ctx, route, fields...)
}

// SetConnection publishes connection parameters (for a shared instance
// with SharedGUID, its slave_reference).
func (c *Client) SetConnection(ctx context.Context, id, pid string, r api.ConnectionRequest) error {
	doc, err := xmlm.Marshal(xmlm.StringDict(r.Parameters))
	if err != nil {
		return fmt.Errorf("slap: %w", err)
	}
	shared := r.SharedGUID
	if shared == "" {
		shared = PythonNone
	}
	return c.post(ctx, RouteConnection, "computer_id", id, "computer_partition_id", pid, "connection_xml", string(doc), "slave_reference", shared)
}

// PartitionDestroyed reports a partition wiped.
func (c *Client) PartitionDestroyed(ctx context.Context, id, pid string) error {
	return c.post(ctx, RouteDestroyed, "computer_id", id, "computer_partition_id", pid)
}

// PartitionCertificate fetches the credentials of a partition's instance
// (SLAP gives no CA: CAPEM is empty).
func (c *Client) PartitionCertificate(ctx context.Context, id, pid string) (api.Credentials, error) {
	_, data, _, err := c.call(ctx, http.MethodGet, RouteCertificate, url.Values{"computer_id": {id}, "computer_partition_id": {pid}})
	if err != nil {
		return api.Credentials{}, err
	}
	v, err := xmlm.Unmarshal(data)
	if err != nil {
		return api.Credentials{}, fmt.Errorf("slap: %s: %w", RouteCertificate, err)
	}
	m, err := v.StringMap(RouteCertificate)
	if err != nil || m["certificate"] == "" || m["key"] == "" {
		return api.Credentials{}, fmt.Errorf("slap: %s: expected a dict of certificate and key (%v)", RouteCertificate, err)
	}
	return api.Credentials{CertificatePEM: m["certificate"], KeyPEM: m["key"]}, nil
}

// PostUsage posts a TioXML usage journal (useComputer). SLAP answers no
// count: the result is empty.
func (c *Client) PostUsage(ctx context.Context, id string, journalXML []byte) (api.UsageResult, error) {
	return api.UsageResult{}, c.post(ctx, RouteUsage, "computer_id", id, "use_string", string(journalXML))
}

// Bang bangs an instance's tree through its partition: the client's own
// for a partition's client, else the partition the last view placed it in.
func (c *Client) Bang(ctx context.Context, guid, message string) (api.Instance, error) {
	cid, pid := c.computerID, c.partitionID
	if pid == "" {
		c.mu.Lock()
		cid, pid = c.viewOf, c.where[guid]
		c.mu.Unlock()
		if pid == "" {
			return api.Instance{}, fmt.Errorf("slap: bang of %s: no partition of the last view holds it", guid)
		}
	}
	return api.Instance{GUID: guid}, c.post(ctx, RouteBang, "computer_id", cid, "computer_partition_id", pid, "message", message)
}

// Request requests an instance (requestComputerPartition); a partition's
// client requests for the instance in it (a child of its tree). A request
// the master has not placed yet (408) answers an instance with status
// pending.
func (c *Client) Request(ctx context.Context, r api.InstanceRequest) (api.Instance, error) {
	params, err := xmlm.Marshal(xmlm.StringDict(r.Parameters))
	if err != nil {
		return api.Instance{}, fmt.Errorf("slap: %w", err)
	}
	sla, err := xmlm.Marshal(xmlm.StringDict(r.SLA))
	if err != nil {
		return api.Instance{}, fmt.Errorf("slap: %w", err)
	}
	state := xmlm.None()
	if r.State != "" {
		state = xmlm.String(string(r.State))
	}
	stateDoc, _ := xmlm.Marshal(state)
	sharedDoc, _ := xmlm.Marshal(xmlm.Bool(r.Shared))
	stype := r.SoftwareType
	if stype == "" {
		stype = model.DefaultSoftwareType
	}
	form := url.Values{"software_release": {r.SoftwareRelease}, "software_type": {stype}, "partition_reference": {r.Title},
		"partition_parameter_xml": {string(params)}, "filter_xml": {string(sla)}, "state": {string(stateDoc)}, "shared_xml": {string(sharedDoc)}}
	if c.partitionID != "" {
		form.Set("computer_id", c.computerID)
		form.Set("computer_partition_id", c.partitionID)
	}
	status, data, _, err := c.call(ctx, http.MethodPost, RouteRequest, form)
	if err != nil {
		return api.Instance{}, err
	}
	inst := api.Instance{Title: r.Title, SoftwareRelease: r.SoftwareRelease, SoftwareType: stype, Shared: r.Shared, Status: api.StatusPending}
	if status == http.StatusRequestTimeout {
		return inst, nil
	}
	v, err := xmlm.Unmarshal(data)
	if err == nil {
		err = object(v, "SoftwareInstance")
	}
	if err != nil {
		return api.Instance{}, fmt.Errorf("slap: %s: %w", RouteRequest, err)
	}
	inst.Status = api.StatusAllocated
	for _, f := range []struct {
		key string
		dst *string
	}{{"_instance_guid", &inst.GUID}, {"slap_computer_id", &inst.ComputerID}, {"slap_computer_partition_id", &inst.PartitionID}} {
		if *f.dst, err = str(v, f.key); err != nil {
			return api.Instance{}, fmt.Errorf("slap: %s: %w", RouteRequest, err)
		}
	}
	state2, err := str(v, "_requested_state")
	if err != nil {
		return api.Instance{}, fmt.Errorf("slap: %s: %w", RouteRequest, err)
	}
	inst.RequestedState = model.RequestedState(state2)
	if inst.Connection, err = stringMap(v, "_connection_dict"); err != nil {
		return api.Instance{}, fmt.Errorf("slap: %s: %w", RouteRequest, err)
	}
	if inst.Parameters, err = stringMap(v, "_parameter_dict"); err != nil {
		return api.Instance{}, fmt.Errorf("slap: %s: %w", RouteRequest, err)
	}
	return inst, nil
}
