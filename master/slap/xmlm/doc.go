// Package xmlm reads and writes xml_marshaller documents, the payload format
// of SlapOS's SLAP protocol: `<marshal>` holding one Python value (None,
// bool, int, float, str, tuple, list, dict, set, or an object pickle such as
// slapos.slap.slap's Computer, ComputerPartition, SoftwareRelease and
// SoftwareInstance).
//
// # Format
//
//   - Scalars: <none/>, <bool>1</bool>, <int>3</int> (<long> for big ones),
//     <float>1.5</float> (Python's repr), <string>text</string> (<unicode>
//     read as a string too).
//   - Containers: <tuple> (no id), <list id="iN">, <dictionary id="iN">
//     (alternating keys and values), <set id="iN">, <object id="iN"
//     module="M" class="C"> holding a tuple of constructor arguments and the
//     dictionary of attributes. <reference id="iN"/> repeats a container
//     already written. Ids count from i2 in document order.
//   - NB: string text is escaped twice, as xml_marshaller does: once for the
//     characters & < > (saxutils.escape) and once by the XML serializer;
//     reading undoes both. A string written by Python reads back identical.
//
// # Contract
//
// Unmarshal refuses what the Python reader would refuse (a wrong element,
// an odd dictionary, an unknown reference, a malformed number) and more:
// text inside a container, a reference to a container still open (a cycle),
// a key given twice, an unhashable key, an integer beyond int64, and
// documents that expand past MaxNodes values through references. Marshal
// writes what Unmarshal reads back equal, with no references.
// Dictionaries keep their order; StringDict sorts its keys as Python does.
package xmlm
