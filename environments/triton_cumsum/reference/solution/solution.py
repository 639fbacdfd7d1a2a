"""Reference solution for triton_cumsum: one pass over the data, a decoupled look-back scan.

Y_i = sum_{j<=i} x_j * [number of positive x_k with k < j is odd]

Each program takes one tile of BLOCK elements, in the order it drew a ticket (an atomic
counter, so that every tile it waits on has already started: no deadlock whatever order the
hardware schedules programs in). It summarises its tile before it knows what came before:

    a  = parity of the positives in the tile
    s0 = the tile's masked sum if the parity carried in is even
    s1 = the tile's masked sum if the parity carried in is odd  (= tile sum - s0)

It publishes (a, s0, s1) at once, then reads its predecessors' published states, LOOKBACK at a
time, until it meets one that already knows its inclusive prefix (parity, sum), composing the
summaries on the way. With the carried-in (parity c, sum S) it publishes its own inclusive
prefix, which unblocks its successors, then scans its tile and writes y.

The default (BLOCK 8192, 4 warps, ROW 4) keeps the tile in registers between the two steps,
so x is read from memory once, and holds it as rows of 4 contiguous elements (one 16-byte
vector, so each row's scan happens inside a thread and the generic scan runs over row totals
only). Across the look-back each element is kept in one register, packed as x << 1 | its local
parity bit (PACK), and the kernel is compiled with a cap of 168 registers a thread (MAXNREG),
so that 3 programs (12 warps) fit on a multiprocessor instead of 2; the look-back reads 16
predecessors at a time. The other settings are variants calibrate.py can compare: ROW 0, a flat
tile; CHUNK < BLOCK, a tile walked twice in chunks, the second time from L2 (large tiles with
few registers). On an H100 the default takes 0.331 ms of GPU time for 10**8 elements and
0.36 ms as scored (the copy floor is 0.28 ms); see ../README.md for the measurements.

After the first launch for a given specialisation, launches go straight to the compiled
kernel, skipping Triton's argument binding: that halves the host time of a call.

State words (int64, one buffer kept per device; each call has its own epoch, so nothing needs
zeroing between calls, and tickets count on from a base):
    A[t] = epoch << 35 | parity << 34 | flag << 32 | sum (low 32 bits)
           flag 1: aggregate (sum = s0); flag 2: inclusive prefix
    B[t] = epoch << 35 | 1 << 32 | s1 (low 32 bits), written with the aggregate
Each word is written and read whole, so no ordering between words is needed: a reader that
sees A[t] as an aggregate of this epoch reads again until B[t] is of this epoch too. So every
atomic is relaxed: Triton's default (acq_rel) puts a fence before each, which waits for the
program's earlier memory operations and holds back its later ones.

Sums wrap modulo 2**32 like any int32 arithmetic; for the task's inputs (|x| <= 10,
n = 1e8) no prefix comes near 2**31, so the int32 output is exact. Calls on one device must
not overlap (they share the state buffer): calls on one stream never do.
"""

import torch
import triton
import triton.language as tl

BLOCK = 8192
CHUNK = 8192  # == BLOCK: the tile stays in registers
NUM_WARPS = 4
LOOKBACK = 16  # predecessors read at once
TICKET = True  # tiles in the order programs start (False: program id order)
ROW = 4  # > 0: the tile as rows of ROW elements (a two-level scan)
PACK = True  # ROW > 0: keep x << 1 | parity bit across the look-back (one register an element)
MAXNREG = 168  # register cap a thread (0: none); 168 lets 3 programs of 4 warps share an SM

_AGGREGATE = tl.constexpr(1)
_INCLUSIVE = tl.constexpr(2)
_LOW32 = tl.constexpr(0xFFFFFFFF)
_EPOCHS = 2**28 - 1


@triton.jit
def _look_back(a_ptr, b_ptr, tile, epoch, a, W: tl.constexpr):
    """Read W predecessors at once. Positions before tile 0 read as an inclusive prefix of
    (0, 0). Above the nearest inclusive prefix in the window every state must be an aggregate
    (else read again); those compose in order through an exclusive scan of their parities."""
    idx = tl.arange(0, W)
    j = tile - 1  # the window is j-W+1 .. j
    g_par = a * 0
    g0 = a * 0
    g1 = a * 0
    carry_par = a * 0
    carry_sum = a * 0
    searching = (tile > 0).to(tl.int32)
    while searching != 0:
        pos = j - (W - 1) + idx
        exists = pos >= 0
        wa = tl.load(a_ptr + pos, mask=exists, other=0, volatile=True)
        wb = tl.load(b_ptr + pos, mask=exists, other=0, volatile=True)
        wa = tl.where((wa >> 35) == epoch, wa, 0)  # a state of an earlier call: not ready
        wb = tl.where((wb >> 35) == epoch, wb, 0)
        wa = tl.where(exists, wa, _INCLUSIVE << 32)
        flag = ((wa >> 32) & 3).to(tl.int32)
        par = ((wa >> 34) & 1).to(tl.int32)
        sum0 = (wa & _LOW32).to(tl.int32)
        sum1 = (wb & _LOW32).to(tl.int32)
        aggregate = (flag == _AGGREGATE) & (((wb >> 32) & 1) != 0)
        nearest = tl.max(tl.where(flag == _INCLUSIVE, idx, -1), 0)
        after = idx > nearest
        waiting = tl.sum((after & (aggregate == 0)).to(tl.int32), 0)
        # Compose the aggregates above `nearest`, carry-in parity 0 (w0) and 1 (w1).
        pa = tl.where(after, par, 0)
        odd_before = ((tl.cumsum(pa, 0) - pa) & 1) != 0
        w_par = tl.sum(pa, 0) & 1
        w0 = tl.sum(tl.where(after, tl.where(odd_before, sum1, sum0), 0), 0)
        w1 = tl.sum(tl.where(after, tl.where(odd_before, sum0, sum1), 0), 0)
        # Then the tiles already passed: window-part first, then (g_par, g0, g1).
        new0 = w0 + tl.where(w_par != 0, g1, g0)
        new1 = w1 + tl.where(w_par != 0, g0, g1)
        new_par = w_par ^ g_par
        at = idx == nearest
        inc_par = tl.sum(tl.where(at, par, 0), 0)
        inc_sum = tl.sum(tl.where(at, sum0, 0), 0)
        found = nearest >= 0
        ready = waiting == 0
        done = ready & found
        carry_par = tl.where(done, inc_par ^ new_par, carry_par)
        carry_sum = tl.where(done, inc_sum + tl.where(inc_par != 0, new1, new0), carry_sum)
        moving = ready & (nearest < 0)
        g0 = tl.where(moving, new0, g0)
        g1 = tl.where(moving, new1, g1)
        g_par = tl.where(moving, new_par, g_par)
        j = tl.where(moving, j - W, j)
        searching = tl.where(done, 0, 1)
    return carry_par, carry_sum


@triton.jit
def _summary(x):
    """(parity of positives, masked sum for carry-in parity 0, for 1, local odd flags)."""
    pos = (x > 0).to(tl.int32)
    odd_local = ((tl.cumsum(pos, 0) - pos) & 1) != 0  # exclusive parity inside the chunk
    a = tl.sum(pos, 0) & 1
    s0 = tl.sum(tl.where(odd_local, x, 0), 0)
    s1 = tl.sum(x, 0) - s0
    return a, s0, s1, odd_local


@triton.jit
def _publish_and_look_back(a_ptr, b_ptr, tile, epoch, a, s0, s1, LOOKBACK: tl.constexpr):
    tag = epoch.to(tl.int64) << 35
    flag = tl.where(tile == 0, _INCLUSIVE, _AGGREGATE).to(tl.int64)  # tile 0 knows its prefix
    tl.atomic_xchg(b_ptr + tile, tag | (1 << 32) | (s1.to(tl.int64) & _LOW32), sem="relaxed")
    tl.atomic_xchg(
        a_ptr + tile,
        tag | (a.to(tl.int64) << 34) | (flag << 32) | (s0.to(tl.int64) & _LOW32),
        sem="relaxed",
    )
    carry_par, carry_sum = _look_back(a_ptr, b_ptr, tile, epoch, a, LOOKBACK)
    if tile > 0:
        inc_sum = carry_sum + tl.where(carry_par != 0, s1, s0)
        inc_par = carry_par ^ a
        tl.atomic_xchg(
            a_ptr + tile,
            tag
            | (inc_par.to(tl.int64) << 34)
            | (_INCLUSIVE << 32)
            | (inc_sum.to(tl.int64) & _LOW32),
            sem="relaxed",
        )
    return carry_par, carry_sum


@triton.jit(do_not_specialize=["epoch", "base"])
def _prefix_sum_kernel(
    x_ptr,
    y_ptr,
    a_ptr,
    b_ptr,
    ticket_ptr,
    n,
    epoch,
    base,
    BLOCK: tl.constexpr,
    CHUNK: tl.constexpr,
    LOOKBACK: tl.constexpr,
    TICKET: tl.constexpr,
    ROW: tl.constexpr,
    PACK: tl.constexpr,
):
    if TICKET:
        tile = (tl.atomic_add(ticket_ptr, 1, sem="relaxed") - base).to(tl.int32)
    else:
        tile = tl.program_id(0)
    if ROW > 0:
        # The tile as [BLOCK // ROW, ROW], rows contiguous: scans along a row stay (mostly)
        # inside a thread, and the generic scan runs over row totals only.
        rows = tl.arange(0, BLOCK // ROW)
        offs = tile * BLOCK + rows[:, None] * ROW + tl.arange(0, ROW)[None, :]
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0)
        pos = (x > 0).to(tl.int32)
        row_pos = tl.sum(pos, 1)
        before = tl.cumsum(pos, 1) - pos + (tl.cumsum(row_pos, 0) - row_pos)[:, None]
        odd_local = (before & 1) != 0
        a = tl.sum(row_pos, 0) & 1
        s0 = tl.sum(tl.sum(tl.where(odd_local, x, 0), 1), 0)
        s1 = tl.sum(tl.sum(x, 1), 0) - s0
        if PACK:  # noqa: SIM108
            # One register an element across the look-back: x (|x| < 2**30) and its parity.
            kept = (x << 1) | (before & 1)
        else:
            kept = x
        carry_par, carry_sum = _publish_and_look_back(
            a_ptr, b_ptr, tile, epoch, a, s0, s1, LOOKBACK
        )
        if PACK:
            v = tl.where(((kept ^ carry_par) & 1) != 0, kept >> 1, 0)
        else:
            v = tl.where(odd_local ^ (carry_par != 0), kept, 0)
        row_v = tl.sum(v, 1)
        y = tl.cumsum(v, 1) + (tl.cumsum(row_v, 0) - row_v + carry_sum)[:, None]
        tl.store(y_ptr + offs, y, mask=mask)
    elif CHUNK == BLOCK:
        offs = tile * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0)
        a, s0, s1, odd_local = _summary(x)
        carry_par, carry_sum = _publish_and_look_back(
            a_ptr, b_ptr, tile, epoch, a, s0, s1, LOOKBACK
        )
        odd = odd_local ^ (carry_par != 0)
        y = tl.cumsum(tl.where(odd, x, 0), 0) + carry_sum
        tl.store(y_ptr + offs, y, mask=mask)
    else:
        # Pass 1: compose the chunks' summaries into the tile's.
        a = tile * 0
        s0 = tile * 0
        s1 = tile * 0
        for c in range(0, BLOCK // CHUNK):
            offs = tile * BLOCK + c * CHUNK + tl.arange(0, CHUNK)
            x = tl.load(x_ptr + offs, mask=offs < n, other=0)
            ca, c0, c1, _ = _summary(x)
            new0 = s0 + tl.where(a != 0, c1, c0)
            new1 = s1 + tl.where(a != 0, c0, c1)
            a = a ^ ca
            s0 = new0
            s1 = new1
        carry_par, carry_sum = _publish_and_look_back(
            a_ptr, b_ptr, tile, epoch, a, s0, s1, LOOKBACK
        )
        # Pass 2: the same chunks again (from L2), scanned with the carry.
        for c in range(0, BLOCK // CHUNK):
            offs = tile * BLOCK + c * CHUNK + tl.arange(0, CHUNK)
            mask = offs < n
            x = tl.load(x_ptr + offs, mask=mask, other=0)
            pos = (x > 0).to(tl.int32)
            odd = (((tl.cumsum(pos, 0) - pos) & 1) != 0) ^ (carry_par != 0)
            v = tl.where(odd, x, 0)
            tl.store(y_ptr + offs, tl.cumsum(v, 0) + carry_sum, mask=mask)
            carry_sum += tl.sum(v, 0)
            carry_par = carry_par ^ (tl.sum(pos, 0) & 1)


class _State:
    """Per device: the state words of every tile, the ticket counter, the epoch."""

    def __init__(self, device, tiles):
        words = torch.zeros(2 * tiles + 1, dtype=torch.int64, device=device)
        self.a, self.b, self.ticket = words[:tiles], words[tiles : 2 * tiles], words[2 * tiles :]
        self.tiles = tiles
        self.epoch = 0
        self.tickets = 0  # the device counter's value between calls


_STATES: dict = {}
_COMPILED: dict = {}  # launch key -> compiled kernel, to skip Triton's per-launch binding
_RUNNERS: dict = {}  # (launch key, grid) -> the compiled kernel's launcher for that grid
_FAST = [True]  # False once the direct launch failed: use the ordinary one from then on


def _launch(x, y, block, chunk, num_warps, lookback, ticket, row=0, maxnreg=MAXNREG, pack=PACK):
    """Launch on x into y; returns the compiled kernel (for its register report)."""
    n = x.numel()
    tiles = triton.cdiv(n, block)
    device = x.device
    state = _STATES.get(device)
    if state is None or state.tiles < tiles:
        state = _STATES[device] = _State(device, max(tiles, 1 << 14))
    if state.tickets > 1 << 30:  # keep `base` a 32-bit argument
        state.ticket.zero_()
        state.tickets = 0
    state.epoch = state.epoch % _EPOCHS + 1
    base = state.tickets
    if ticket:
        state.tickets += tiles
    args = (x, y, state.a, state.b, state.ticket, n, state.epoch, base)
    constexprs = (block, min(chunk, block), lookback, ticket, row, pack)
    # What Triton specializes a launch on: 16-byte alignment, n == 1, n % 16 == 0.
    key = (device, x.data_ptr() % 16, y.data_ptr() % 16, n == 1, n % 16, num_warps, maxnreg)
    key += constexprs
    compiled = _COMPILED.get(key)
    if compiled is not None and _FAST[0]:
        try:
            runner = _RUNNERS.get((key, tiles))
            if runner is None:
                runner = _RUNNERS[key, tiles] = compiled[(tiles, 1, 1)]
            runner(*args, *constexprs)
            return compiled
        except Exception:  # another Triton's internals: launch the ordinary way
            _FAST[0] = False
    options = dict(
        BLOCK=block, CHUNK=constexprs[1], LOOKBACK=lookback, TICKET=ticket, ROW=row, PACK=pack
    )
    if maxnreg:
        options["maxnreg"] = maxnreg
    compiled = _prefix_sum_kernel[(tiles,)](*args, num_warps=num_warps, **options)
    _COMPILED[key] = compiled
    return compiled


def prefix_sum(
    x: torch.Tensor,
    block: int = BLOCK,
    chunk: int = CHUNK,
    num_warps: int = NUM_WARPS,
    lookback: int = LOOKBACK,
    ticket: bool = TICKET,
    row: int = ROW,
    maxnreg: int | None = MAXNREG,
    pack: bool = PACK,
) -> torch.Tensor:
    assert x.dim() == 1 and x.dtype == torch.int32
    x = x.contiguous()
    y = torch.empty_like(x)
    if x.numel():
        _launch(x, y, block, chunk, num_warps, lookback, ticket, row, maxnreg, pack)
    return y
