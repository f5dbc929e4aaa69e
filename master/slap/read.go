package slap

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/slap/xmlm"
)

// object checks that v is the pickle of slapos.slap.slap's class.
func object(v xmlm.Value, class string) error {
	if v.Kind != xmlm.KindObject || v.Module != Module || v.Class != class {
		return fmt.Errorf("slap: got a %s %s.%s: expected a %s.%s", v.Kind, v.Module, v.Class, Module, class)
	}
	return nil
}

// str reads an optional string attribute ("" when absent or None).
func str(v xmlm.Value, key string) (string, error) {
	a, ok := v.Get(key)
	if !ok || a.Kind == xmlm.KindNone {
		return "", nil
	}
	if a.Kind != xmlm.KindString {
		return "", fmt.Errorf("%s is a %s: expected a str", key, a.Kind)
	}
	return a.Str, nil
}

// stringMap reads an optional dict attribute of scalars.
func stringMap(v xmlm.Value, key string) (map[string]string, error) {
	a, ok := v.Get(key)
	if !ok || a.Kind == xmlm.KindNone || a.Len() == 0 {
		return nil, nil
	}
	return a.StringMap(key)
}

// ReadComputer turns a getFullComputerInformation answer into the view
// the node agent converges to. A partition's version is its timestamp
// (a number; another text is hashed, so that it still changes exactly
// when the timestamp does).
func ReadComputer(v xmlm.Value) (model.ComputerView, error) {
	if err := object(v, "Computer"); err != nil {
		return model.ComputerView{}, err
	}
	var view model.ComputerView
	var err error
	if view.ComputerID, err = str(v, "_computer_id"); err != nil {
		return view, err
	}
	if sws, ok := v.Get("_software_release_list"); ok && sws.Kind == xmlm.KindList {
		for i, sw := range sws.Items {
			if err := object(sw, "SoftwareRelease"); err != nil {
				return view, fmt.Errorf("_software_release_list[%d]: %w", i, err)
			}
			url, err := str(sw, "_software_release")
			if err != nil || url == "" {
				return view, fmt.Errorf("_software_release_list[%d]: no _software_release (%v)", i, err)
			}
			state, err := str(sw, "_requested_state")
			if err != nil {
				return view, fmt.Errorf("_software_release_list[%d]: %w", i, err)
			}
			req := model.SoftwareAvailable
			if state == string(model.SoftwareDestroyed) {
				req = model.SoftwareDestroyed
			}
			view.Software = append(view.Software, model.SoftwareView{URL: url, Requested: req})
		}
	}
	parts, ok := v.Get("_computer_partition_list")
	if !ok || parts.Kind != xmlm.KindList {
		return view, errors.New("slap: the computer has no _computer_partition_list")
	}
	for i, p := range parts.Items {
		pv, err := readPartition(p)
		if err != nil {
			return view, fmt.Errorf("_computer_partition_list[%d]: %w", i, err)
		}
		view.Partitions = append(view.Partitions, pv)
	}
	return view, nil
}

func readPartition(p xmlm.Value) (model.PartitionView, error) {
	var pv model.PartitionView
	if err := object(p, "ComputerPartition"); err != nil {
		return pv, err
	}
	var err error
	if pv.ID, err = str(p, "_partition_id"); err != nil || pv.ID == "" {
		return pv, fmt.Errorf("no _partition_id (%v)", err)
	}
	state, err := str(p, "_requested_state")
	if err != nil {
		return pv, err
	}
	if pv.RequestedState, err = model.ParseRequestedState(state); err != nil || state == "" {
		return pv, fmt.Errorf("partition %s: _requested_state %q: expected started, stopped or destroyed", pv.ID, state)
	}
	doc, _ := p.Get("_software_release_document")
	if doc.Kind == xmlm.KindNone {
		pv.RequestedState = model.StateDestroyed // free
		pd, _ := p.Get("_parameter_dict")
		ips, _ := pd.Get("ip_list")
		var err error
		pv.Addresses, err = readIPList(ips)
		if err != nil {
			return pv, fmt.Errorf("partition %s: %w", pv.ID, err)
		}
		return pv, nil
	}
	if err := object(doc, "SoftwareRelease"); err != nil {
		return pv, fmt.Errorf("partition %s: _software_release_document: %w", pv.ID, err)
	}
	if pv.SoftwareRelease, err = str(doc, "_software_release"); err != nil {
		return pv, err
	}
	if pv.InstanceGUID, err = str(p, "_instance_guid"); err != nil {
		return pv, err
	}
	if pv.SLA, err = stringMap(p, "_filter_dict"); err != nil {
		return pv, fmt.Errorf("partition %s: %w", pv.ID, err)
	}
	pd, _ := p.Get("_parameter_dict")
	if pd.Kind != xmlm.KindDict {
		return pv, fmt.Errorf("partition %s: _parameter_dict is a %s: expected a dict", pv.ID, pd.Kind)
	}
	for i := 0; i+1 < len(pd.Items); i += 2 {
		k, val := pd.Items[i], pd.Items[i+1]
		if k.Kind != xmlm.KindString {
			return pv, fmt.Errorf("partition %s: _parameter_dict key #%d is a %s", pv.ID, i/2+1, k.Kind)
		}
		switch k.Str {
		case "ip_list":
			if pv.Addresses, err = readIPList(val); err != nil {
				return pv, fmt.Errorf("partition %s: %w", pv.ID, err)
			}
		case "slave_instance_list":
			for j, s := range val.Items {
				sv, err := readShared(s)
				if err != nil {
					return pv, fmt.Errorf("partition %s: slave_instance_list[%d]: %w", pv.ID, j, err)
				}
				pv.SharedInstances = append(pv.SharedInstances, sv)
			}
		case "timestamp":
			ts, err := val.Text()
			if err != nil {
				return pv, fmt.Errorf("partition %s: timestamp: %w", pv.ID, err)
			}
			pv.Version = versionOf(ts)
		case "instance_title":
			pv.Title = val.Str
		case "root_instance_title":
			pv.RootTitle = val.Str
		case "slap_software_type":
			pv.SoftwareType = val.Str
		case "full_ip_list", "slap_computer_id", "slap_computer_partition_id", "slap_software_release_url":
		default:
			text, err := val.Text()
			if err != nil {
				return pv, fmt.Errorf("partition %s: parameter %q is a %s", pv.ID, k.Str, val.Kind)
			}
			if pv.Parameters == nil {
				pv.Parameters = map[string]string{}
			}
			pv.Parameters[k.Str] = text
		}
	}
	return pv, nil
}

// readIPList reads ip_list: (interface, address) pairs.
func readIPList(v xmlm.Value) ([]model.Address, error) {
	var out []model.Address
	for _, t := range v.Items {
		if t.Kind != xmlm.KindTuple && t.Kind != xmlm.KindList || len(t.Items) != 2 ||
			t.Items[0].Kind != xmlm.KindString || t.Items[1].Kind != xmlm.KindString {
			return nil, fmt.Errorf("ip_list holds a %s: expected (interface, address) strings", t.Kind)
		}
		out = append(out, model.Address{Iface: t.Items[0].Str, Addr: t.Items[1].Str})
	}
	return out, nil
}

func readShared(s xmlm.Value) (model.SharedView, error) {
	m, err := s.StringMap("shared instance")
	if err != nil {
		return model.SharedView{}, err
	}
	sv := model.SharedView{GUID: m["slave_reference"], Title: m["slave_title"], SoftwareType: m["slap_software_type"], State: model.StateStarted}
	if sv.GUID == "" {
		return sv, errors.New("no slave_reference")
	}
	for _, k := range []string{"slave_reference", "slave_title", "slap_software_type"} {
		delete(m, k)
	}
	if len(m) > 0 {
		sv.Parameters = m
	}
	return sv, nil
}

// versionOf reads a timestamp: a whole number as it is, a decimal in
// thousandths, anything else hashed.
func versionOf(ts string) uint64 {
	if n, err := strconv.ParseUint(ts, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(ts, 64); err == nil && f >= 0 && f < math.MaxUint64/1000 {
		return uint64(f * 1000)
	}
	h := fnv.New64a()
	h.Write([]byte(ts))
	return h.Sum64()
}
