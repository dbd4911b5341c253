#!/usr/bin/env python3
"""Cut a GGUF model to its embedding, output norm and first N layers (block_count N), keeping
every metadata key, the tokenizer and the tensor types: a small real model for places the
default one does not fit (the working tree lent to a GPU machine is at most 64 MiB).
With the `gguf` package, the reference reader/writer of the format.

usage: cut_gguf.py IN.gguf OUT.gguf [--layers 2]
"""
import argparse
import re

import gguf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--layers", type=int, default=2)
    a = ap.parse_args()
    r = gguf.GGUFReader(a.src)
    arch = r.fields[gguf.Keys.General.ARCHITECTURE].contents()
    w = gguf.GGUFWriter(a.dst, arch, endianess=r.endianess)
    block_key = f"{arch}.block_count"
    for field in r.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by GGUFWriter itself
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = a.layers if field.name == block_key else field.contents()
        w.add_key_value(field.name, value, vtype, sub_type=sub)
    keep = []
    for t in r.tensors:
        m = re.match(r"blk\.(\d+)\.", t.name)
        if m is None or int(m.group(1)) < a.layers:
            keep.append(t)
    for t in keep:
        w.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for t in keep:
        w.write_tensor_data(t.data, tensor_endianess=r.endianess)
    w.close()
    print(f"{a.dst}: {len(keep)} tensors, {a.layers} layers, {sum(t.n_bytes for t in keep) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
