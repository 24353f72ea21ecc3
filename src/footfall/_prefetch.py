"""``prefetch(arr, i)``: a cache hint for numba kernels whose loads miss the caches.

Hash tables and lookup grids bigger than the caches cost a memory round trip per
probe. A kernel that knows which entries a block of rows will touch asks for them
first, so that the misses overlap instead of queueing one behind the other. A hint
never changes a result: a wrong or stale one only costs time.
"""

from __future__ import annotations

from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch"]

# LLVM's intrinsic is named by pointer type: opaque pointers from LLVM 15 on.
_NAME = "llvm.prefetch.p0" if llvm.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


@intrinsic
def prefetch(typingctx, arr, index):  # pragma: no cover - numba
    """Ask the CPU to load ``arr[index]`` (a 1-d array) into its caches, without waiting."""
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, signature.args[0], ary, [args[1]], wraparound=False
        )
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), _NAME
        )
        # a read, to be kept in every cache level, of data
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
