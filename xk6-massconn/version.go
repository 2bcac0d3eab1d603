package massconn

// Version is this extension's release, exported to scripts as
// massconn.version and listed in CHANGELOG.md. Pre-1.0: options may still
// change between minor versions, and the changelog says how.
const Version = "0.1.0"
