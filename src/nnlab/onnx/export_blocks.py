"""ONNX converters of the composite blocks: residual containers (``nn.Residual``, ``nn.Add``, the ResNet
``BasicBlock`` and ``Scale``) and attention (``nn.MultiheadAttention`` self-attention,
``nn.TransformerEncoderLayer``, ``nn.PositionalEmbedding``, ``models.CharTransformer``).

- ``Residual``: ``Add(main(x), shortcut(x))`` (the shortcut is ``x`` itself when absent); ``nn.Add``: the
  branches summed with ``Add`` nodes; ``BasicBlock``: ``act2(bn2(conv2(act1(bn1(conv1(x))))) + downsample(x))``
  with torchvision's initializer names (``layer1.0.conv1.weight``, ...).
- Self-attention (inference, no dropout), x (N, T, E): ``MatMul`` with ``in_proj_weight^T`` + bias, ``Split``
  into q, k, v, each ``Reshape`` (N, T, h, d) and ``Transpose`` to (N, h, T, d);
  ``Softmax(q k^T / sqrt(d) [+ causal mask])`` times v; heads merged back and ``out_proj``. The causal mask is
  a (max_len, max_len) constant of 0 / -inf, sliced (``Slice``) to (T, T) at run time, so T stays dynamic.
- ``TransformerEncoderLayer``: post-norm ``norm1(x + sa(x))``, ``norm2(x + ff(x))`` or pre-norm
  ``x + sa(norm1(x))``, ``x + ff(norm2(x))`` with ``ff = linear2(act(linear1(.)))`` and ``LayerNormalization``.
- ``CharTransformer``: ids (N, T) -> ``Gather`` (token table) + positions (the table sliced to T by ``Slice``) -> causal
  layers -> the last position (``Gather`` index -1 on axis 1) -> ``LayerNormalization`` -> read-out (``Gemm``;
  with tied weights the token table itself, ``transB=1``): the (N, V) scores of ``model.loss(X)``.
"""

from __future__ import annotations

import numpy as np

from ..models.resnet import BasicBlock, Scale
from ..models.transformer import CharTransformer
from ..nn import Add, Linear, Residual
from ..nn.attention import MultiheadAttention
from ..nn.transformer import PositionalEmbedding, TransformerEncoderLayer
from .graph import ConverterTable, ExportError, GraphBuilder, Traced, affine, child_scope, convert, layernorm

__all__ = ["CONVERTERS"]

CONVERTERS = ConverterTable()


# ---- residual containers ------------------------------------------------------------------------------------
def _add(g: GraphBuilder, a: Traced, b: Traced, scope: str) -> Traced:
    return Traced(g.node("Add", [a.name, b.name], scope=scope), a.value + b.value)


@CONVERTERS.add(Residual)
def _residual(g: GraphBuilder, m: Residual, x: Traced, scope: str) -> Traced:
    y = convert(g, m.main, x, child_scope(scope, "main"))
    s = convert(g, m._modules["shortcut"], x, child_scope(scope, "shortcut")) if "shortcut" in m._modules else x
    return _add(g, y, s, scope)


@CONVERTERS.add(Add)
def _add_branches(g: GraphBuilder, m: Add, x: Traced, scope: str) -> Traced:
    outs = [convert(g, child, x, child_scope(scope, name)) for name, child in m.named_children()]
    total = outs[0]
    for o in outs[1:]:
        total = _add(g, total, o, scope)
    return total


@CONVERTERS.add(BasicBlock)
def _basic_block(g: GraphBuilder, m: BasicBlock, x: Traced, scope: str) -> Traced:
    h = x
    for name in ("conv1", "bn1", "act1", "conv2", "bn2"):
        h = convert(g, getattr(m, name), h, child_scope(scope, name))
    s = convert(g, m._modules["downsample"], x, child_scope(scope, "downsample")) if "downsample" in m._modules else x
    return convert(g, m.act2, _add(g, h, s, scope), child_scope(scope, "act2"))


@CONVERTERS.add(Scale)
def _scale(g: GraphBuilder, m: Scale, x: Traced, scope: str) -> Traced:
    factor = g.const(child_scope(scope, "scale"), np.float64(m.scale))
    return Traced(g.node("Mul", [x.name, factor], scope=scope), x.value * x.value.dtype.type(m.scale))


# ---- attention ----------------------------------------------------------------------------------------------
def _seq_len(g: GraphBuilder, x: Traced, scope: str) -> str:
    """The run-time length T = x.shape[1] as a (1,) int64 tensor."""
    return g.node("Shape", [x.name], scope=scope, start=1, end=2)


def _causal_mask(g: GraphBuilder, x: Traced, max_len: int, scope: str) -> str:
    """A (T, T) float mask, 0 on and below the diagonal and -inf above, sliced from a (max_len, max_len)
    constant."""
    full = np.triu(np.full((max_len, max_len), -np.inf), k=1)
    t = _seq_len(g, x, scope)
    ends = g.node("Concat", [t, t], scope=scope, axis=0)
    return g.node("Slice", [g.const(child_scope(scope, "causal_mask"), full),
                            g.int64s(child_scope(scope, "zeros2"), [0, 0]), ends,
                            g.int64s(child_scope(scope, "axes01"), [0, 1])], scope=scope)


def self_attention(g: GraphBuilder, m: MultiheadAttention, x: Traced, scope: str, causal: bool = False,
                   max_len: int | None = None) -> Traced:
    """Inference self-attention of ``m`` on batch-first x (N, T, E); returns (N, T, E)."""
    E, h, d = m.embed_dim, m.num_heads, m.head_dim
    qkv = affine(g, x, m.in_proj_weight, m.in_proj_bias, scope, child_scope(scope, "in_proj_weight"),
                 child_scope(scope, "in_proj_bias"), weight_is_out_in=True)
    parts = g.node("Split", [qkv.name, g.int64s(child_scope(scope, "split"), [E, E, E])], scope=scope, outputs=3,
                   axis=-1)
    heads_shape = g.int64s(child_scope(scope, "heads_shape"), [0, 0, h, d])
    q, k, v = (g.node("Transpose", [g.node("Reshape", [p, heads_shape], scope=scope)], scope=scope,
                      perm=[0, 2, 3, 1] if i == 1 else [0, 2, 1, 3]) for i, p in enumerate(parts))
    scores = g.node("MatMul", [q, k], scope=scope)  # k is (N, h, d, T): q k^T directly
    scores = g.node("Mul", [scores, g.const(child_scope(scope, "inv_sqrt_d"), np.float64(1.0 / np.sqrt(d)))],
                    scope=scope)
    if causal:
        scores = g.node("Add", [scores, _causal_mask(g, x, max_len or x.value.shape[1], scope)], scope=scope)
    attn = g.node("Softmax", [scores], scope=scope, axis=-1)
    merged = g.node("Transpose", [g.node("MatMul", [attn, v], scope=scope)], scope=scope, perm=[0, 2, 1, 3])
    merged = g.node("Reshape", [merged, g.int64s(child_scope(scope, "merged_shape"), [0, 0, E])], scope=scope)
    value = m.eval()(x.value, x.value, x.value, need_weights=False, is_causal=causal)[0]
    out = affine(g, Traced(merged, value), m.out_proj.weight, m.out_proj.bias, child_scope(scope, "out_proj"),
                 child_scope(scope, "out_proj.weight"), child_scope(scope, "out_proj.bias"), weight_is_out_in=True)
    return Traced(out.name, value)


@CONVERTERS.add(MultiheadAttention)
def _mha(g: GraphBuilder, m: MultiheadAttention, x: Traced, scope: str) -> Traced:
    """In a Sequential, ``MultiheadAttention`` is self-attention on batch-first x (its output, not the weights)."""
    if not m.batch_first:
        raise ExportError(f"nnlab.onnx.export: {scope or 'MultiheadAttention'}: only batch_first=True")
    return self_attention(g, m, x, scope)


def encoder_layer(g: GraphBuilder, m: TransformerEncoderLayer, x: Traced, scope: str, causal: bool = False,
                  max_len: int | None = None) -> Traced:
    """One ``TransformerEncoderLayer`` on batch-first x (N, T, E), dropout removed."""
    def norm(name: str, h: Traced) -> Traced:
        mod = getattr(m, name)
        return layernorm(g, h, mod.weight, mod.bias, mod.eps, -1, child_scope(scope, name),
                         (child_scope(scope, f"{name}.weight"), child_scope(scope, f"{name}.bias")))

    def sa(h: Traced) -> Traced:
        return self_attention(g, m.self_attn, h, child_scope(scope, "self_attn"), causal, max_len)

    def ff(h: Traced) -> Traced:
        h = convert(g, m.linear1, h, child_scope(scope, "linear1"))
        h = convert(g, m.activation, h, child_scope(scope, "activation"))
        return convert(g, m.linear2, h, child_scope(scope, "linear2"))

    if m.norm_first:
        x = _add(g, x, sa(norm("norm1", x)), scope)
        x = _add(g, x, ff(norm("norm2", x)), scope)
    else:
        x = norm("norm1", _add(g, x, sa(x), scope))
        x = norm("norm2", _add(g, x, ff(x), scope))
    return x


@CONVERTERS.add(TransformerEncoderLayer)
def _encoder_layer(g: GraphBuilder, m: TransformerEncoderLayer, x: Traced, scope: str) -> Traced:
    if not m.batch_first:
        x = Traced(g.node("Transpose", [x.name], scope=scope, perm=[1, 0, 2]), x.value.swapaxes(0, 1))
    y = encoder_layer(g, m, x, scope)
    value = m.eval()(x.value if m.batch_first else x.value.swapaxes(0, 1))
    if not m.batch_first:
        return Traced(g.node("Transpose", [y.name], scope=scope, perm=[1, 0, 2]), value)
    return Traced(y.name, value)


def _positions(g: GraphBuilder, m: PositionalEmbedding, x: Traced, scope: str) -> Traced:
    t = _seq_len(g, x, scope)
    rows = g.node("Slice", [g.const(child_scope(scope, "weight"), m.weight),
                            g.int64s(child_scope(scope, "zero"), [0]), t,
                            g.int64s(child_scope(scope, "axis0"), [0])], scope=scope)
    return Traced(g.node("Add", [x.name, rows], scope=scope), m(x.value))


@CONVERTERS.add(PositionalEmbedding)
def _positional(g: GraphBuilder, m: PositionalEmbedding, x: Traced, scope: str) -> Traced:
    return _positions(g, m, x, scope)


@CONVERTERS.add(CharTransformer)
def _char_transformer(g: GraphBuilder, m: CharTransformer, x: Traced, scope: str) -> Traced:
    ids = x
    h = convert(g, m.embedding, ids, child_scope(scope, "embedding"))
    h = _positions(g, m.pos_embedding, h, child_scope(scope, "pos_embedding"))
    for name, layer in m.layers.named_children():
        h = encoder_layer(g, layer, h, child_scope(scope, f"layers.{name}"), causal=True, max_len=m.max_len)
    last = g.node("Gather", [h.name, g.int64s(child_scope(scope, "last"), -1)], scope=scope, axis=1)
    n = m.norm
    value = m.loss(ids.value)  # the (N, V) scores, eval mode
    h = layernorm(g, Traced(last, np.zeros((value.shape[0], n.weight.shape[0]), g.dtype)), n.weight, n.bias, n.eps,
                  -1, child_scope(scope, "norm"), (child_scope(scope, "norm.weight"), child_scope(scope, "norm.bias")))
    if isinstance(m.head, Linear):
        out = convert(g, m.head, h, child_scope(scope, "head"))
        return Traced(out.name, value)
    table = next(t.name for t in g.initializers if t.name == child_scope(scope, "embedding.weight"))
    out = g.node("Gemm", [h.name, table, g.const(child_scope(scope, "head.bias"), m.head.bias)], scope=scope, transB=1)
    return Traced(out, value)
