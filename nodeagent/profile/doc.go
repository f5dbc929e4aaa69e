// Package profile turns software release profiles into built software and
// configured partitions: slapgo's take on SlapOS's use of buildout.
//
// A software release is a URL (file://, http(s):// or an absolute path) to
// a profile in buildout's INI dialect (Parse documents the syntax). Load
// follows "[buildout] extends" (relative locations resolve against the
// extending file; cycles are errors that show the chain), merges the files
// ("+=" appends lines to, "-=" removes words from the extended value), sets
// _profile_base_location_ and resolves "<= macro" sections. References
// ${section:option} are substituted when a value is used, recursively;
// ${:option} names the current section; "$${" is written "${", which is how
// a software profile keeps a reference for instance time.
//
// Two stages, as in SlapOS:
//
//  1. Software time — Build(ctx, BuildOptions) installs the parts of the
//     software profile into the software directory <software_root>/<md5(url)>
//     with the recipes download (a checksum is required), cmmi (configure,
//     make, make install, with patches applied by a built-in unified-diff
//     patcher: no patch binary is needed), shell, template and mkdirectory.
//     The part [instance-profile] (or the one named by [buildout]
//     instance-profile) renders the instance profile, copied to
//     Dir/instance.cfg. Dir/.installed.cfg records every part with its
//     options (sources, checksums, patches: "where is my patch?");
//     Dir/.completed is written last. A completed build is not redone
//     unless Force is set.
//
//  2. Instance time — Deploy(ctx, InstanceContext) applies Dir/instance.cfg
//     to one partition, with the node's sections [slap-connection] and
//     [slap-configuration] added, using the recipes switch-softwaretype,
//     slapconfiguration, mkdirectory, template, wrapper (etc/run), service
//     (etc/service), promise (etc/promise, scripts calling "slapgo promise"),
//     publish, publish-shared, request and bridge (an etc/service script
//     calling "slapgo bridge", which makes a program listening only on the
//     partition's IPv4 address reachable on its IPv6 address). It returns a
//     Deployment: what to publish, which children were requested, which
//     services and promises exist, the destroy hook. It runs no process and
//     is cheap: a node reconfigures hundreds of partitions one after the
//     other.
//
// Sections with a recipe that a part references are installed before it
// (buildout's automatic part selection), so ${part:location} works. An
// option a recipe does not take is an error, except names starting with
// "_", which are free for the profile's own use. Recipe names of SlapOS
// (slapos.recipe.cmmi, slapos.cookbook:publish, …) are accepted as aliases.
//
// Errors: every error about a profile is an *Error naming the file (path or
// URL), the line, the section and the option, wrapping one of the Err…
// sentinels; the message says what was expected.
//
// Safety: values coming from the node (parameters, addresses, connection
// parameters of children) are never substituted again, so a parameter
// cannot inject a reference. Command lines (wrapper, service, promise,
// destroy-hook) are split into words before substitution and every word is
// quoted in the generated script: a parameter is always one argument, never
// shell code. Every file is written through an os.Root of the software or
// partition directory, so links planted by their (unprivileged) owner
// cannot redirect the agent's writes, and outputs outside the directory are
// errors. Reads are bounded the same way: Deploy reads local files only in
// the software and partition directories; Build with a credential reads a
// local file only if every user may.
//
// Caller's duties:
//
//  1. Build: give the software directory; run builds outside the instance
//     loop (they may take hours); keep o.Log (the build log) for error
//     reports. Pass Cred to build as the software user when the agent is
//     root. Completed(dir) tells whether a build is there.
//  2. Deploy: the partition directory must exist; Cred hands created files
//     to the partition user when the agent is root. Supervise every
//     executable of Deployment.Services (etc/service and etc/run), run
//     Deployment.Promises with a timeout, publish Deployment.Publish and
//     PublishShared, and keep Deployment.DestroyHook (sbin/destroy) to run
//     as the partition user before wiping the partition. Requester is called
//     synchronously for each request part.
//  3. "slapgo promise" must call RunPromise: the promise scripts written by
//     Deploy run "<SlapgoBinary> promise port|http …".
//
// Deploy keeps the list of files it wrote in PartitionDir/.installed.cfg
// and removes, after a successful deployment, those a part no longer
// writes (a service whose part went away disappears). Deploying twice with
// the same context leaves every file untouched.
package profile
