// Package slap is the SLAP protocol of SlapOS (slapos.core's slap library,
// slapgrid, slapformat) on the wire: its routes, form fields and the
// object pickles its answers carry (xml_marshaller documents of
// slapos.slap.slap's Computer, ComputerPartition, SoftwareRelease and
// SoftwareInstance), built from and read into core/model's views.
//
// The master serves it (master/server) on the same commands and
// authorization as /api/v1; the node agent may speak it to a SlapOS master
// (Client).
package slap

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/slap/xmlm"
)

// Module is the Python module of every class SLAP answers carry; the slap
// library refuses any other.
const Module = "slapos.slap.slap"

// Routes (relative to the master URL) of the calls this package knows.
const (
	RouteFullComputerInformation = "getFullComputerInformation"
	RouteComputerInformation     = "getComputerInformation"
	RouteRegisterPartition       = "registerComputerPartition"
	RouteLoadConfiguration       = "loadComputerConfigurationFromXML"
	RouteSupply                  = "supplySupply"
	RouteRequest                 = "requestComputerPartition"
	RouteBuildingSoftware        = "buildingSoftwareRelease"
	RouteAvailableSoftware       = "availableSoftwareRelease"
	RouteSoftwareError           = "softwareReleaseError"
	RouteDestroyedSoftware       = "destroyedSoftwareRelease"
	RouteStarted                 = "startedComputerPartition"
	RouteStopped                 = "stoppedComputerPartition"
	RouteDestroyed               = "destroyedComputerPartition"
	RouteInstanceError           = "softwareInstanceError"
	RouteBang                    = "softwareInstanceBang"
	RouteComputerBang            = "computerBang"
	RouteTreeAddresses           = "getHostingSubscriptionIpList"
	RouteRename                  = "softwareInstanceRename"
	RouteConnection              = "setComputerPartitionConnectionXml"
	RouteRelatedInstances        = "updateComputerPartitionRelatedInstanceList"
	RouteUsage                   = "useComputer"
	RouteCertificate             = "getComputerPartitionCertificate"
)

// PythonNone is how the slap library sends a form field whose value is
// None.
const PythonNone = "None"

// SoftwareRelease is the pickle of a SoftwareRelease of a computer.
func SoftwareRelease(url, computerID string, state model.SoftwareRequest) xmlm.Value {
	attrs := []xmlm.Value{
		xmlm.String("_computer_guid"), xmlm.String(computerID),
		xmlm.String("_software_instance_list"), xmlm.List(),
		xmlm.String("_software_release"), xmlm.String(url),
	}
	if state != "" {
		attrs = append(attrs, xmlm.String("_requested_state"), xmlm.String(string(state)))
	}
	return xmlm.Object(Module, "SoftwareRelease", []xmlm.Value{xmlm.String(url), xmlm.String(computerID)}, xmlm.Dict(attrs...))
}

// Computer is the pickle getFullComputerInformation answers: the software
// to have and every partition.
func Computer(v *model.ComputerView) xmlm.Value {
	sws := make([]xmlm.Value, len(v.Software))
	for i, s := range v.Software {
		sws[i] = SoftwareRelease(s.URL, v.ComputerID, s.Requested)
	}
	parts := make([]xmlm.Value, len(v.Partitions))
	for i := range v.Partitions {
		parts[i] = Partition(v.ComputerID, &v.Partitions[i], nil)
	}
	return xmlm.Object(Module, "Computer", []xmlm.Value{xmlm.String(v.ComputerID)}, xmlm.Dict(
		xmlm.String("_computer_id"), xmlm.String(v.ComputerID),
		xmlm.String("_computer_partition_list"), xmlm.List(parts...),
		xmlm.String("_software_release_list"), xmlm.List(sws...),
	))
}

// ipList is a partition's addresses as (interface, address) tuples, the
// prefix length left out as SlapOS does.
func ipList(addrs []model.Address) xmlm.Value {
	items := make([]xmlm.Value, len(addrs))
	for i, a := range addrs {
		addr, _, _ := strings.Cut(a.Addr, "/")
		items[i] = xmlm.Tuple(xmlm.String(a.Iface), xmlm.String(addr))
	}
	return xmlm.List(items...)
}

// AddressList is getHostingSubscriptionIpList's answer: (interface,
// address) tuples.
func AddressList(addrs []model.Address) xmlm.Value { return ipList(addrs) }

// Partition is the pickle of one partition of a computer's view. A free
// partition reads "destroyed" with no software release (its parameters
// hold only its ip_list); a busy one carries
// the instance's parameters merged with what slapgrid reads from them
// (ip_list, slap_* keys, slave_instance_list, timestamp).
//
// connection is the instance's published connection parameters: the view
// of a computer leaves them out (publishing changes no timestamp, and the
// view is cached by timestamp), registerComputerPartition gives them.
func Partition(computerID string, p *model.PartitionView, connection map[string]string) xmlm.Value {
	attrs := []xmlm.Value{
		xmlm.String("_computer_id"), xmlm.String(computerID),
		xmlm.String("_partition_id"), xmlm.String(p.ID),
		xmlm.String("_request_dict"), xmlm.None(),
	}
	if p.Free() {
		attrs = append(attrs,
			xmlm.String("_connection_dict"), xmlm.Dict(),
			xmlm.String("_filter_dict"), xmlm.Dict(),
			xmlm.String("_instance_guid"), xmlm.None(),
			xmlm.String("_need_modification"), xmlm.Int(0),
			xmlm.String("_parameter_dict"), xmlm.Dict(xmlm.String("ip_list"), ipList(p.Addresses)),
			xmlm.String("_requested_state"), xmlm.String(string(model.StateDestroyed)),
			xmlm.String("_software_release_document"), xmlm.None(),
		)
		return xmlm.Object(Module, "ComputerPartition", []xmlm.Value{xmlm.String(computerID), xmlm.String(p.ID), xmlm.None()}, xmlm.Dict(attrs...))
	}
	attrs = append(attrs,
		xmlm.String("_connection_dict"), xmlm.StringDict(connection),
		xmlm.String("_filter_dict"), xmlm.StringDict(p.SLA),
		xmlm.String("_instance_guid"), xmlm.String(p.InstanceGUID),
		xmlm.String("_need_modification"), xmlm.Int(1),
		xmlm.String("_parameter_dict"), parameterDict(computerID, p),
		xmlm.String("_requested_state"), xmlm.String(string(p.RequestedState)),
		xmlm.String("_software_release_document"), SoftwareRelease(p.SoftwareRelease, computerID, ""),
	)
	return xmlm.Object(Module, "ComputerPartition", []xmlm.Value{xmlm.String(computerID), xmlm.String(p.ID), xmlm.None()}, xmlm.Dict(attrs...))
}

// Keys slapgrid reads from a partition's parameters, added by the master.
var reservedParameters = map[string]bool{
	"ip_list": true, "full_ip_list": true, "slap_software_type": true, "instance_title": true,
	"root_instance_title": true, "slap_computer_id": true, "slap_computer_partition_id": true,
	"slap_software_release_url": true, "slave_instance_list": true, "timestamp": true,
}

func parameterDict(computerID string, p *model.PartitionView) xmlm.Value {
	root := p.RootTitle
	if root == "" {
		root = p.Title
	}
	shared := make([]xmlm.Value, 0, len(p.SharedInstances))
	for _, sh := range p.SharedInstances {
		if sh.State == model.StateDestroyed {
			continue
		}
		kv := []xmlm.Value{
			xmlm.String("slap_software_type"), xmlm.String(sh.SoftwareType),
			xmlm.String("slave_reference"), xmlm.String(sh.GUID),
			xmlm.String("slave_title"), xmlm.String(sh.Title),
		}
		for _, k := range sortedKeys(sh.Parameters) {
			if k == "slap_software_type" || k == "slave_reference" || k == "slave_title" {
				continue
			}
			kv = append(kv, xmlm.String(k), xmlm.String(sh.Parameters[k]))
		}
		shared = append(shared, xmlm.Dict(kv...))
	}
	kv := []xmlm.Value{
		xmlm.String("full_ip_list"), xmlm.List(),
		xmlm.String("instance_title"), xmlm.String(p.Title),
		xmlm.String("ip_list"), ipList(p.Addresses),
		xmlm.String("root_instance_title"), xmlm.String(root),
		xmlm.String("slap_computer_id"), xmlm.String(computerID),
		xmlm.String("slap_computer_partition_id"), xmlm.String(p.ID),
		xmlm.String("slap_software_release_url"), xmlm.String(p.SoftwareRelease),
		xmlm.String("slap_software_type"), xmlm.String(p.SoftwareType),
		xmlm.String("slave_instance_list"), xmlm.List(shared...),
		xmlm.String("timestamp"), xmlm.String(strconv.FormatUint(p.Version, 10)),
	}
	for _, k := range sortedKeys(p.Parameters) {
		if !reservedParameters[k] {
			kv = append(kv, xmlm.String(k), xmlm.String(p.Parameters[k]))
		}
	}
	return xmlm.Dict(kv...)
}

func sortedKeys(m map[string]string) []string {
	d := xmlm.StringDict(m)
	keys := make([]string, 0, d.Len())
	for i := 0; i < len(d.Items); i += 2 {
		keys = append(keys, d.Items[i].Str)
	}
	return keys
}

// RequestedInstance is what requestComputerPartition answers about an
// allocated instance (shared or not).
type RequestedInstance struct {
	GUID            string
	Title           string
	ComputerID      string
	PartitionID     string
	SoftwareRelease string
	SoftwareType    string
	State           model.RequestedState
	Parameters      map[string]string
	Connection      map[string]string
	Addresses       []model.Address
	Version         uint64
}

// SoftwareInstance is the pickle requestComputerPartition answers; the
// slap library turns it into a ComputerPartition of slap_computer_id and
// slap_computer_partition_id (for a shared instance: its host's).
func SoftwareInstance(ri RequestedInstance) xmlm.Value {
	params := make(map[string]string, len(ri.Parameters)+1)
	for k, v := range ri.Parameters {
		params[k] = v
	}
	params["timestamp"] = strconv.FormatUint(ri.Version, 10)
	return xmlm.Object(Module, "SoftwareInstance", nil, xmlm.Dict(
		xmlm.String("_connection_dict"), xmlm.StringDict(ri.Connection),
		xmlm.String("_instance_guid"), xmlm.String(ri.GUID),
		xmlm.String("_parameter_dict"), xmlm.StringDict(params),
		xmlm.String("_requested_state"), xmlm.String(string(ri.State)),
		xmlm.String("ip_list"), ipList(ri.Addresses),
		xmlm.String("slap_computer_id"), xmlm.String(ri.ComputerID),
		xmlm.String("slap_computer_partition_id"), xmlm.String(ri.PartitionID),
		xmlm.String("slap_software_release_url"), xmlm.String(ri.SoftwareRelease),
		xmlm.String("slap_software_type"), xmlm.String(ri.SoftwareType),
	))
}

// FormattedPartition is one partition of slapformat's computer
// description.
type FormattedPartition struct {
	ID        string
	Addresses []model.Address
}

// ReadComputerConfiguration reads the computer dict `slapos node format`
// sends to loadComputerConfigurationFromXML: its reference and, per
// partition, its reference and addresses (named by the address's
// network_interface when given, else by the partition's tap interface, or
// by the partition when it has none, as slapproxy does).
func ReadComputerConfiguration(v xmlm.Value) (computerID string, parts []FormattedPartition, err error) {
	if v.Kind != xmlm.KindDict {
		return "", nil, fmt.Errorf("the computer description is a %s: expected a dict", v.Kind)
	}
	ref, ok := v.Get("reference")
	if !ok || ref.Kind != xmlm.KindString || ref.Str == "" {
		return "", nil, errors.New(`the computer description has no "reference" (the computer id)`)
	}
	list, ok := v.Get("partition_list")
	if !ok || list.Kind != xmlm.KindList {
		return "", nil, errors.New(`the computer description has no "partition_list" list`)
	}
	for i, p := range list.Items {
		where := fmt.Sprintf("partition_list[%d]", i)
		if p.Kind != xmlm.KindDict {
			return "", nil, fmt.Errorf("%s is a %s: expected a dict", where, p.Kind)
		}
		pref, ok := p.Get("reference")
		if !ok || pref.Kind != xmlm.KindString || pref.Str == "" {
			return "", nil, fmt.Errorf(`%s has no "reference"`, where)
		}
		iface := pref.Str
		if tap, ok := p.Get("tap"); ok && tap.Kind == xmlm.KindDict {
			if name, ok := tap.Get("name"); ok && name.Kind == xmlm.KindString && name.Str != "" {
				iface = name.Str
			}
		}
		fp := FormattedPartition{ID: pref.Str}
		if addrs, ok := p.Get("address_list"); ok && addrs.Kind != xmlm.KindNone {
			if addrs.Kind != xmlm.KindList {
				return "", nil, fmt.Errorf(`%s (%s): "address_list" is a %s: expected a list`, where, pref.Str, addrs.Kind)
			}
			for j, a := range addrs.Items {
				addr, ok := a.Get("addr")
				if a.Kind != xmlm.KindDict || !ok || addr.Kind != xmlm.KindString {
					return "", nil, fmt.Errorf(`%s (%s): address_list[%d] is not a dict with an "addr" str`, where, pref.Str, j)
				}
				name := iface
				if ni, ok := a.Get("network_interface"); ok && ni.Kind == xmlm.KindString && ni.Str != "" {
					name = ni.Str // slapgo's node names each address's interface
				}
				fp.Addresses = append(fp.Addresses, model.Address{Iface: name, Addr: addr.Str})
			}
		}
		parts = append(parts, fp)
	}
	return ref.Str, parts, nil
}
