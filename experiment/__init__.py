"""The paper in miniature: every stage for every method on the same text, and a report of which
compressed tokenizations an M2 learns, at what cost per byte (`eqinfo experiment`)."""
