"""Independent reader for the safetensors export test: reads FILE with Hugging
Face's own `safetensors` package (PyPI) and prints, per tensor sorted by name,
"name dtype d0xd1 v0 v1 ..." with every value as float.hex() (exact).
Exit 2 when the package is missing (the test then fails with this message)."""
import struct
import sys

try:
    import safetensors
except ImportError:
    sys.stderr.write("python package 'safetensors' is missing: run tools/install-deps.sh\n")
    sys.exit(2)


def main(path):
    with open(path, "rb") as f:
        data = f.read()
    for name, info in sorted(safetensors.deserialize(data)):
        raw = info["data"]
        if info["dtype"] == "F32":
            values = struct.unpack("<%df" % (len(raw) // 4), raw)
        elif info["dtype"] == "BF16":
            halves = struct.unpack("<%dH" % (len(raw) // 2), raw)
            values = [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
        else:
            raise SystemExit("unexpected dtype " + info["dtype"])
        shape = "x".join(str(d) for d in info["shape"])
        print(name, info["dtype"], shape, " ".join(float(v).hex() for v in values))


if __name__ == "__main__":
    main(sys.argv[1])
