"""Runtime-built protobuf classes for the subsets of caffe.proto and TensorFlow's GraphDef.

Neither Caffe nor TensorFlow is a dependency, and there is no ``protoc`` step: the message
classes are made at import time from ``FileDescriptorProto`` objects written out here.  Every
field carries the same number and wire type as in the upstream schema
(``BVLC/caffe src/caffe/proto/caffe.proto`` and ``tensorflow/core/framework/*.proto``), so real
``.caffemodel``, ``.prototxt`` and frozen ``.pb`` files parse; fields left out here are kept as
unknown fields by protobuf in binary files.  The classes live in a private
``DescriptorPool`` so that they never clash with a real ``caffe_pb2`` or TensorFlow loaded in
the same process.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Sequence

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_FD = descriptor_pb2.FieldDescriptorProto

_SCALARS = {
    "double": _FD.TYPE_DOUBLE,
    "float": _FD.TYPE_FLOAT,
    "int64": _FD.TYPE_INT64,
    "uint64": _FD.TYPE_UINT64,
    "int32": _FD.TYPE_INT32,
    "uint32": _FD.TYPE_UINT32,
    "bool": _FD.TYPE_BOOL,
    "string": _FD.TYPE_STRING,
    "bytes": _FD.TYPE_BYTES,
}
_LABELS = {"optional": _FD.LABEL_OPTIONAL, "repeated": _FD.LABEL_REPEATED}

# A field spec: (label, type, name, number) or (label, type, name, number, options) where
# options may hold "default" (proto2 default as text), "packed" (bool), "oneof" (index).
# A type that is not a scalar is a message or enum name relative to the package; enums are
# listed in _ENUMS so that the field gets TYPE_ENUM.
FieldSpec = tuple


def _add_message(
    container: Any,
    package: str,
    name: str,
    fields: Sequence[FieldSpec],
    enums: dict[str, set[str]],
    nested_enums: dict[str, Sequence[tuple[str, int]]] | None = None,
    oneofs: Sequence[str] = (),
    map_entry: bool = False,
) -> Any:
    msg = container.add()
    msg.name = name
    if map_entry:
        msg.options.map_entry = True
    for oneof_name in oneofs:
        msg.oneof_decl.add().name = oneof_name
    for enum_name, values in (nested_enums or {}).items():
        e = msg.enum_type.add()
        e.name = enum_name
        for vname, vnum in values:
            v = e.value.add()
            v.name = vname
            v.number = vnum
    for spec in fields:
        label, ftype, fname, number = spec[:4]
        opts = spec[4] if len(spec) > 4 else {}
        f = msg.field.add()
        f.name = fname
        f.number = number
        f.label = _LABELS[label]
        if ftype in _SCALARS:
            f.type = _SCALARS[ftype]
        else:
            f.type_name = f".{package}.{ftype}"
            f.type = _FD.TYPE_ENUM if ftype in enums.get(package, set()) else _FD.TYPE_MESSAGE
        if "default" in opts:
            f.default_value = opts["default"]
        if "packed" in opts:
            f.options.packed = opts["packed"]
        if "oneof" in opts:
            f.oneof_index = opts["oneof"]
    return msg


# --------------------------------------------------------------------------------------------
# caffe.proto subset (proto2, package caffe)
# --------------------------------------------------------------------------------------------

_CAFFE_ENUMS = {
    "caffe": {
        "Phase",
        "EltwiseParameter.EltwiseOp",
        "PoolingParameter.PoolMethod",
        "PoolingParameter.RoundMode",
        "PoolingParameter.Engine",
        "ConvolutionParameter.Engine",
        "ReLUParameter.Engine",
        "ParamSpec.DimCheckMode",
        "FillerParameter.VarianceNorm",
        "V1LayerParameter.LayerType",
        "V1LayerParameter.DimCheckMode",
    }
}

_V1_TYPES = [
    ("NONE", 0), ("ABSVAL", 35), ("ACCURACY", 1), ("ARGMAX", 30), ("BNLL", 2), ("CONCAT", 3),
    ("CONTRASTIVE_LOSS", 37), ("CONVOLUTION", 4), ("DATA", 5), ("DECONVOLUTION", 39),
    ("DROPOUT", 6), ("DUMMY_DATA", 32), ("EUCLIDEAN_LOSS", 7), ("ELTWISE", 25), ("EXP", 38),
    ("FLATTEN", 8), ("HDF5_DATA", 9), ("HDF5_OUTPUT", 10), ("HINGE_LOSS", 28), ("IM2COL", 11),
    ("IMAGE_DATA", 12), ("INFOGAIN_LOSS", 13), ("INNER_PRODUCT", 14), ("LRN", 15),
    ("MEMORY_DATA", 29), ("MULTINOMIAL_LOGISTIC_LOSS", 16), ("MVN", 34), ("POOLING", 17),
    ("POWER", 26), ("RELU", 18), ("SIGMOID", 19), ("SIGMOID_CROSS_ENTROPY_LOSS", 27),
    ("SILENCE", 36), ("SOFTMAX", 20), ("SOFTMAX_LOSS", 21), ("SPLIT", 22), ("SLICE", 33),
    ("TANH", 23), ("WINDOW_DATA", 24), ("THRESHOLD", 31),
]

#: V1 (``layers { type: CONVOLUTION }``) enum name -> modern layer type string.
V1_TYPE_NAMES = {
    "CONVOLUTION": "Convolution", "RELU": "ReLU", "POOLING": "Pooling", "CONCAT": "Concat",
    "ELTWISE": "Eltwise", "SPLIT": "Split", "DROPOUT": "Dropout", "DATA": "Data",
    "INNER_PRODUCT": "InnerProduct", "SOFTMAX": "Softmax", "SIGMOID": "Sigmoid", "TANH": "TanH",
    "LRN": "LRN", "POWER": "Power", "SLICE": "Slice", "FLATTEN": "Flatten",
    "DECONVOLUTION": "Deconvolution", "ABSVAL": "AbsVal", "BNLL": "BNLL", "EXP": "Exp",
    "MVN": "MVN", "THRESHOLD": "Threshold", "SILENCE": "Silence",
}


def _caffe_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto()
    fd.name = "posefast_caffe_subset.proto"
    fd.package = "caffe"
    fd.syntax = "proto2"
    e = _CAFFE_ENUMS
    m = fd.message_type
    p = "caffe"
    phase = fd.enum_type.add()
    phase.name = "Phase"
    for n, v in (("TRAIN", 0), ("TEST", 1)):
        val = phase.value.add()
        val.name, val.number = n, v

    _add_message(m, p, "BlobShape", [("repeated", "int64", "dim", 1, {"packed": True})], e)
    _add_message(m, p, "BlobProto", [
        ("optional", "BlobShape", "shape", 7),
        ("repeated", "float", "data", 5, {"packed": True}),
        ("repeated", "float", "diff", 6, {"packed": True}),
        ("repeated", "double", "double_data", 8, {"packed": True}),
        ("repeated", "double", "double_diff", 9, {"packed": True}),
        ("optional", "int32", "num", 1, {"default": "0"}),
        ("optional", "int32", "channels", 2, {"default": "0"}),
        ("optional", "int32", "height", 3, {"default": "0"}),
        ("optional", "int32", "width", 4, {"default": "0"}),
    ], e)
    _add_message(m, p, "FillerParameter", [
        ("optional", "string", "type", 1, {"default": "constant"}),
        ("optional", "float", "value", 2, {"default": "0"}),
        ("optional", "float", "min", 3, {"default": "0"}),
        ("optional", "float", "max", 4, {"default": "1"}),
        ("optional", "float", "mean", 5, {"default": "0"}),
        ("optional", "float", "std", 6, {"default": "1"}),
        ("optional", "int32", "sparse", 7, {"default": "-1"}),
        ("optional", "FillerParameter.VarianceNorm", "variance_norm", 8, {"default": "FAN_IN"}),
    ], e, nested_enums={"VarianceNorm": [("FAN_IN", 0), ("FAN_OUT", 1), ("AVERAGE", 2)]})
    _add_message(m, p, "NetState", [
        ("optional", "Phase", "phase", 1, {"default": "TEST"}),
        ("optional", "int32", "level", 2, {"default": "0"}),
        ("repeated", "string", "stage", 3),
    ], e)
    _add_message(m, p, "NetStateRule", [
        ("optional", "Phase", "phase", 1),
        ("optional", "int32", "min_level", 2),
        ("optional", "int32", "max_level", 3),
        ("repeated", "string", "stage", 4),
        ("repeated", "string", "not_stage", 5),
    ], e)
    _add_message(m, p, "ParamSpec", [
        ("optional", "string", "name", 1),
        ("optional", "ParamSpec.DimCheckMode", "share_mode", 2),
        ("optional", "float", "lr_mult", 3, {"default": "1"}),
        ("optional", "float", "decay_mult", 4, {"default": "1"}),
    ], e, nested_enums={"DimCheckMode": [("STRICT", 0), ("PERMISSIVE", 1)]})
    _add_message(m, p, "ConvolutionParameter", [
        ("optional", "uint32", "num_output", 1),
        ("optional", "bool", "bias_term", 2, {"default": "true"}),
        ("repeated", "uint32", "pad", 3),
        ("repeated", "uint32", "kernel_size", 4),
        ("repeated", "uint32", "stride", 6),
        ("repeated", "uint32", "dilation", 18),
        ("optional", "uint32", "pad_h", 9, {"default": "0"}),
        ("optional", "uint32", "pad_w", 10, {"default": "0"}),
        ("optional", "uint32", "kernel_h", 11),
        ("optional", "uint32", "kernel_w", 12),
        ("optional", "uint32", "stride_h", 13),
        ("optional", "uint32", "stride_w", 14),
        ("optional", "uint32", "group", 5, {"default": "1"}),
        ("optional", "FillerParameter", "weight_filler", 7),
        ("optional", "FillerParameter", "bias_filler", 8),
        ("optional", "ConvolutionParameter.Engine", "engine", 15, {"default": "DEFAULT"}),
        ("optional", "int32", "axis", 16, {"default": "1"}),
        ("optional", "bool", "force_nd_im2col", 17, {"default": "false"}),
    ], e, nested_enums={"Engine": [("DEFAULT", 0), ("CAFFE", 1), ("CUDNN", 2)]})
    _add_message(m, p, "PoolingParameter", [
        ("optional", "PoolingParameter.PoolMethod", "pool", 1, {"default": "MAX"}),
        ("repeated", "uint32", "pad", 4),
        ("optional", "uint32", "pad_h", 9, {"default": "0"}),
        ("optional", "uint32", "pad_w", 10, {"default": "0"}),
        ("repeated", "uint32", "kernel_size", 2),
        ("optional", "uint32", "kernel_h", 5),
        ("optional", "uint32", "kernel_w", 6),
        ("repeated", "uint32", "stride", 3),
        ("optional", "uint32", "stride_h", 7),
        ("optional", "uint32", "stride_w", 8),
        ("optional", "PoolingParameter.Engine", "engine", 11, {"default": "DEFAULT"}),
        ("optional", "bool", "global_pooling", 12, {"default": "false"}),
        ("optional", "PoolingParameter.RoundMode", "round_mode", 13, {"default": "CEIL"}),
    ], e, nested_enums={
        "PoolMethod": [("MAX", 0), ("AVE", 1), ("STOCHASTIC", 2)],
        "Engine": [("DEFAULT", 0), ("CAFFE", 1), ("CUDNN", 2)],
        "RoundMode": [("CEIL", 0), ("FLOOR", 1)],
    })
    _add_message(m, p, "ReLUParameter", [
        ("optional", "float", "negative_slope", 1, {"default": "0"}),
        ("optional", "ReLUParameter.Engine", "engine", 2, {"default": "DEFAULT"}),
    ], e, nested_enums={"Engine": [("DEFAULT", 0), ("CAFFE", 1), ("CUDNN", 2)]})
    _add_message(m, p, "PReLUParameter", [
        ("optional", "FillerParameter", "filler", 1),
        ("optional", "bool", "channel_shared", 2, {"default": "false"}),
    ], e)
    _add_message(m, p, "ConcatParameter", [
        ("optional", "int32", "axis", 2, {"default": "1"}),
        ("optional", "uint32", "concat_dim", 1, {"default": "1"}),
    ], e)
    _add_message(m, p, "EltwiseParameter", [
        ("optional", "EltwiseParameter.EltwiseOp", "operation", 1, {"default": "SUM"}),
        ("repeated", "float", "coeff", 2),
        ("optional", "bool", "stable_prod_grad", 3, {"default": "true"}),
    ], e, nested_enums={"EltwiseOp": [("PROD", 0), ("SUM", 1), ("MAX", 2)]})
    _add_message(m, p, "InputParameter", [("repeated", "BlobShape", "shape", 1)], e)
    _add_message(m, p, "DropoutParameter", [
        ("optional", "float", "dropout_ratio", 1, {"default": "0.5"}),
    ], e)
    _add_message(m, p, "LayerParameter", [
        ("optional", "string", "name", 1),
        ("optional", "string", "type", 2),
        ("repeated", "string", "bottom", 3),
        ("repeated", "string", "top", 4),
        ("optional", "Phase", "phase", 10),
        ("repeated", "float", "loss_weight", 5),
        ("repeated", "ParamSpec", "param", 6),
        ("repeated", "BlobProto", "blobs", 7),
        ("repeated", "bool", "propagate_down", 11),
        ("repeated", "NetStateRule", "include", 8),
        ("repeated", "NetStateRule", "exclude", 9),
        ("optional", "ConcatParameter", "concat_param", 104),
        ("optional", "ConvolutionParameter", "convolution_param", 106),
        ("optional", "DropoutParameter", "dropout_param", 108),
        ("optional", "EltwiseParameter", "eltwise_param", 110),
        ("optional", "PoolingParameter", "pooling_param", 121),
        ("optional", "ReLUParameter", "relu_param", 123),
        ("optional", "PReLUParameter", "prelu_param", 131),
        ("optional", "InputParameter", "input_param", 143),
    ], e)
    _add_message(m, p, "V1LayerParameter", [
        ("repeated", "string", "bottom", 2),
        ("repeated", "string", "top", 3),
        ("optional", "string", "name", 4),
        ("repeated", "NetStateRule", "include", 32),
        ("repeated", "NetStateRule", "exclude", 33),
        ("optional", "V1LayerParameter.LayerType", "type", 5),
        ("repeated", "BlobProto", "blobs", 6),
        ("repeated", "string", "param", 1001),
        ("repeated", "V1LayerParameter.DimCheckMode", "blob_share_mode", 1002),
        ("repeated", "float", "blobs_lr", 7),
        ("repeated", "float", "weight_decay", 8),
        ("repeated", "float", "loss_weight", 35),
        ("optional", "ConcatParameter", "concat_param", 9),
        ("optional", "ConvolutionParameter", "convolution_param", 10),
        ("optional", "DropoutParameter", "dropout_param", 12),
        ("optional", "PoolingParameter", "pooling_param", 19),
        ("optional", "EltwiseParameter", "eltwise_param", 24),
        ("optional", "ReLUParameter", "relu_param", 30),
    ], e, nested_enums={"LayerType": _V1_TYPES, "DimCheckMode": [("STRICT", 0), ("PERMISSIVE", 1)]})
    _add_message(m, p, "NetParameter", [
        ("optional", "string", "name", 1),
        ("repeated", "string", "input", 3),
        ("repeated", "BlobShape", "input_shape", 8),
        ("repeated", "int32", "input_dim", 4),
        ("optional", "bool", "force_backward", 5, {"default": "false"}),
        ("optional", "NetState", "state", 6),
        ("optional", "bool", "debug_info", 7, {"default": "false"}),
        ("repeated", "LayerParameter", "layer", 100),
        ("repeated", "V1LayerParameter", "layers", 2),
    ], e)
    return fd


# --------------------------------------------------------------------------------------------
# TensorFlow GraphDef subset (proto3, package tensorflow)
# --------------------------------------------------------------------------------------------

#: TensorFlow DataType enum values used here (types.proto).
TF_DTYPES = {
    "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5,
    "DT_INT8": 6, "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10,
    "DT_QINT8": 11, "DT_QUINT8": 12, "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15,
    "DT_QUINT16": 16, "DT_UINT16": 17, "DT_COMPLEX128": 18, "DT_HALF": 19, "DT_RESOURCE": 20,
    "DT_VARIANT": 21, "DT_UINT32": 22, "DT_UINT64": 23,
}


def _tf_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto()
    fd.name = "posefast_tf_graph_subset.proto"
    fd.package = "tensorflow"
    fd.syntax = "proto3"
    p = "tensorflow"
    e = {p: {"DataType"}}
    dt = fd.enum_type.add()
    dt.name = "DataType"
    for n, v in TF_DTYPES.items():
        val = dt.value.add()
        val.name, val.number = n, v
    m = fd.message_type

    shape = _add_message(m, p, "TensorShapeProto", [
        ("repeated", "TensorShapeProto.Dim", "dim", 2),
        ("optional", "bool", "unknown_rank", 3),
    ], e)
    _add_message(shape.nested_type, p, "Dim", [
        ("optional", "int64", "size", 1),
        ("optional", "string", "name", 2),
    ], e)
    _add_message(m, p, "TensorProto", [
        ("optional", "DataType", "dtype", 1),
        ("optional", "TensorShapeProto", "tensor_shape", 2),
        ("optional", "int32", "version_number", 3),
        ("optional", "bytes", "tensor_content", 4),
        ("repeated", "int32", "half_val", 13),
        ("repeated", "float", "float_val", 5),
        ("repeated", "double", "double_val", 6),
        ("repeated", "int32", "int_val", 7),
        ("repeated", "bytes", "string_val", 8),
        ("repeated", "float", "scomplex_val", 9),
        ("repeated", "int64", "int64_val", 10),
        ("repeated", "bool", "bool_val", 11),
        ("repeated", "double", "dcomplex_val", 12),
        ("repeated", "uint32", "uint32_val", 16),
        ("repeated", "uint64", "uint64_val", 17),
    ], e)
    attr = _add_message(m, p, "AttrValue", [
        ("optional", "bytes", "s", 2, {"oneof": 0}),
        ("optional", "int64", "i", 3, {"oneof": 0}),
        ("optional", "float", "f", 4, {"oneof": 0}),
        ("optional", "bool", "b", 5, {"oneof": 0}),
        ("optional", "DataType", "type", 6, {"oneof": 0}),
        ("optional", "TensorShapeProto", "shape", 7, {"oneof": 0}),
        ("optional", "TensorProto", "tensor", 8, {"oneof": 0}),
        ("optional", "AttrValue.ListValue", "list", 1, {"oneof": 0}),
        ("optional", "string", "placeholder", 9, {"oneof": 0}),
    ], e, oneofs=["value"])
    _add_message(attr.nested_type, p, "ListValue", [
        ("repeated", "bytes", "s", 2),
        ("repeated", "int64", "i", 3),
        ("repeated", "float", "f", 4),
        ("repeated", "bool", "b", 5),
        ("repeated", "DataType", "type", 6),
        ("repeated", "TensorShapeProto", "shape", 7),
        ("repeated", "TensorProto", "tensor", 8),
    ], e)
    node = _add_message(m, p, "NodeDef", [
        ("optional", "string", "name", 1),
        ("optional", "string", "op", 2),
        ("repeated", "string", "input", 3),
        ("optional", "string", "device", 4),
        ("repeated", "NodeDef.AttrEntry", "attr", 5),
    ], e)
    _add_message(node.nested_type, p, "AttrEntry", [
        ("optional", "string", "key", 1),
        ("optional", "AttrValue", "value", 2),
    ], e, map_entry=True)
    _add_message(m, p, "VersionDef", [
        ("optional", "int32", "producer", 1),
        ("optional", "int32", "min_consumer", 2),
        ("repeated", "int32", "bad_consumers", 3),
    ], e)
    _add_message(m, p, "GraphDef", [
        ("repeated", "NodeDef", "node", 1),
        ("optional", "VersionDef", "versions", 4),
        ("optional", "int32", "version", 3),
    ], e)
    return fd


def _build() -> tuple[SimpleNamespace, SimpleNamespace]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_caffe_file())
    pool.Add(_tf_file())

    def cls(full_name: str) -> type:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))

    caffe = SimpleNamespace(
        NetParameter=cls("caffe.NetParameter"),
        LayerParameter=cls("caffe.LayerParameter"),
        V1LayerParameter=cls("caffe.V1LayerParameter"),
        BlobProto=cls("caffe.BlobProto"),
        BlobShape=cls("caffe.BlobShape"),
    )
    tf = SimpleNamespace(
        GraphDef=cls("tensorflow.GraphDef"),
        NodeDef=cls("tensorflow.NodeDef"),
        AttrValue=cls("tensorflow.AttrValue"),
        TensorProto=cls("tensorflow.TensorProto"),
        TensorShapeProto=cls("tensorflow.TensorShapeProto"),
    )
    return caffe, tf


#: Caffe message classes: ``caffe.NetParameter``, ``caffe.LayerParameter``, ...
#: TensorFlow message classes: ``tf.GraphDef``, ``tf.NodeDef``, ``tf.AttrValue``, ...
caffe, tf = _build()
