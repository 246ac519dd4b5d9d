"""Documents <-> tokens over a byte model: the paper's EqualInfoAC and AC as codecs.

Lockstep drivers code many documents at once, one symbol per lane per step (windows.py for
Equal-Info windows, streams.py for plain AC streams), with one scheduler of lanes (lanes.py) and
the model's decode sessions (sessions.py); parts.py splits documents into examples, tokens.py
cuts bitstreams into 8- or 16-bit tokens, equal_info.py and arithmetic.py put it together."""
