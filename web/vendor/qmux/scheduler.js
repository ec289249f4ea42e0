/** Prioritized send scheduler for a QMux session.
 *
 * A single writer loop owns the socket. Frames are written in priority order:
 * control frames (flow control, resets, pings, close) always preempt stream
 * data, and among stream data the highest `sendOrder` wins (W3C WebTransport
 * convention — larger value is sent first), with round-robin among equal
 * priorities. Prioritization only bites under backpressure; when the sink has
 * room every frame is written as soon as it's queued.
 *
 * The backpressure source is abstracted behind {@link SendSink} so we can use
 * `WebSocketStream`'s real (event-driven) backpressure where available and fall
 * back to polling `WebSocket.bufferedAmount` everywhere else.
 */
/** Backpressure-aware sink over a `WebSocketStream` writable. The writable's
 *  `writer.ready` is the backpressure signal — native `WebSocketStream` ties it
 *  to the real send buffer, while the `@moq/web-socket-stream` ponyfill drives
 *  it from `bufferedAmount` against a (resizable) high-water mark. */
export class WritableStreamSink {
    #writer;
    constructor(writable) {
        this.#writer = writable.getWriter();
    }
    ready() {
        return this.#writer.ready;
    }
    write(bytes) {
        // Propagate failures so the scheduler can reject the frame's promise.
        return this.#writer.write(bytes);
    }
    wantsMore() {
        // desiredSize > 0 means below the high-water mark (room to write); 0 or
        // negative means backpressured; null means the stream errored/closed.
        // Native WebSocketStream ties this to the real send buffer; the ponyfill
        // derives it from bufferedAmount, so both report true backpressure.
        const desired = this.#writer.desiredSize;
        return desired !== null && desired > 0;
    }
}
/** Default `sendOrder` for streams that don't set one. */
export const DEFAULT_SEND_ORDER = 0;
/** How many outbound datagrams to buffer before dropping. Datagrams are
 *  unreliable, so a backpressured transport sheds them here rather than growing
 *  an unbounded queue. */
const DATAGRAM_QUEUE_LIMIT = 1024;
export class SendScheduler {
    #sink;
    #onActivity;
    #controlHighWater;
    #closed;
    // Control frames preempt all stream data, FIFO among themselves.
    #control = [];
    #controlBytes = 0;
    // Datagrams: serviced after control, ahead of stream data. Bounded and lossy
    // (unlike #control) since unreliable datagrams are meant to be droppable —
    // shed on transport backpressure or a full lane.
    #datagrams = [];
    // Per-stream send priority and the single pending frame per ready stream.
    // Invariant: a stream has at most one Waiter at a time, because its writer
    // task awaits each enqueue before producing the next frame. This keeps
    // per-stream byte order (offsets) sequential.
    #sendOrders = new Map();
    #ready = new Map();
    #seq = 0;
    // Resolver for the loop when it's parked with no work.
    #wake;
    constructor(sink, options) {
        this.#sink = sink;
        this.#onActivity = options?.onActivity ?? (() => { });
        this.#controlHighWater = options?.controlHighWater ?? 256 * 1024;
        // Start the writer loop. It never rejects — failures are captured by #fail.
        void this.#run();
    }
    /** Queue a pre-encoded control frame. Preempts all stream data. */
    enqueueControl(bytes) {
        if (this.#closed)
            throw this.#closed;
        this.#control.push(bytes);
        this.#controlBytes += bytes.byteLength;
        if (this.#controlBytes > this.#controlHighWater) {
            // Control frames now ride behind transport backpressure (the loop), so
            // they can't flood the socket buffer — but a wedged socket can still let
            // them pile up in memory. Warn rather than drop: dropping flow-control or
            // reset frames would corrupt the session.
            console.warn(`qmux: control backlog ${this.#controlBytes} bytes exceeds high-water`);
        }
        this.#signal();
    }
    /** Queue a datagram frame — best-effort, serviced after control but ahead of
     *  stream data. Dropped (rather than queued) when:
     *   - the scheduler is closed;
     *   - the transport is backpressured — the socket is already queuing stream/
     *     control data, so a datagram behind it would arrive stale; or
     *   - the datagram lane is full, bounding a synchronous burst that outruns the
     *     writer loop even while the transport has room.
     *  An unreliable datagram is meant to be droppable, so this sheds rather than
     *  applying backpressure to the caller. */
    enqueueDatagram(bytes) {
        if (this.#closed)
            return;
        if (!this.#sink.wantsMore())
            return; // transport is queuing — drop, don't delay
        if (this.#datagrams.length >= DATAGRAM_QUEUE_LIMIT)
            return; // burst cap
        this.#datagrams.push(bytes);
        this.#signal();
    }
    /** Set (or update) a stream's send priority. Takes effect immediately,
     *  including for the stream's already-queued frame (priority is read at
     *  selection time), so promoting a stream lets it jump a lower-priority
     *  backlog without reordering its own bytes. */
    setSendOrder(streamId, order) {
        this.#sendOrders.set(streamId, order);
    }
    /** Queue a stream-data frame. Resolves once the bytes hit the socket;
     *  rejects if the session closes or the stream is dropped first. */
    enqueueStream(streamId, bytes) {
        if (this.#closed)
            return Promise.reject(this.#closed);
        // Enforce the one-frame-per-stream invariant: a producer must await each
        // enqueue before the next. A duplicate would orphan the previous promise.
        if (this.#ready.has(streamId)) {
            return Promise.reject(new Error(`stream ${streamId} already has a queued frame`));
        }
        return new Promise((resolve, reject) => {
            this.#ready.set(streamId, { seq: this.#seq++, bytes, resolve, reject });
            this.#signal();
        });
    }
    /** Drop a stream's pending data (reset / abort). Rejects its in-flight frame. */
    dropStream(streamId, err) {
        this.#sendOrders.delete(streamId);
        const waiter = this.#ready.get(streamId);
        if (waiter) {
            this.#ready.delete(streamId);
            waiter.reject(err);
        }
    }
    /** Forget a stream that finished cleanly (its FIN is already queued/sent).
     *  Frees the per-stream priority entry so it doesn't accumulate. */
    forget(streamId) {
        this.#sendOrders.delete(streamId);
    }
    /** Close the scheduler: reject all pending stream frames, but let the loop
     *  flush any already-queued control frames (e.g. CONNECTION_CLOSE). */
    close(err) {
        if (this.#closed)
            return;
        this.#closed = err;
        for (const waiter of this.#ready.values())
            waiter.reject(err);
        this.#ready.clear();
        this.#sendOrders.clear();
        // Drop any queued datagrams — best-effort, and they must not outlive close.
        this.#datagrams.length = 0;
        this.#signal();
    }
    #signal() {
        const wake = this.#wake;
        if (wake) {
            this.#wake = undefined;
            wake();
        }
    }
    /** Pick the next stream to service: highest sendOrder, oldest seq to break
     *  ties (round-robin, since a stream re-arms with a fresh seq each frame). */
    #pickStream() {
        let bestId;
        let bestOrder = Number.NEGATIVE_INFINITY;
        let bestSeq = Number.POSITIVE_INFINITY;
        for (const [id, waiter] of this.#ready) {
            const order = this.#sendOrders.get(id) ?? DEFAULT_SEND_ORDER;
            if (order > bestOrder || (order === bestOrder && waiter.seq < bestSeq)) {
                bestOrder = order;
                bestSeq = waiter.seq;
                bestId = id;
            }
        }
        // Non-null: only called when #ready is non-empty.
        return bestId;
    }
    // biome-ignore lint/correctness/noUnusedPrivateClassMembers: invoked from the constructor; Biome's analysis misses the call into this infinite writer loop.
    async #run() {
        try {
            while (true) {
                if (this.#control.length === 0 && this.#datagrams.length === 0 && this.#ready.size === 0) {
                    if (this.#closed)
                        return;
                    await new Promise((resolve) => {
                        this.#wake = resolve;
                    });
                    continue;
                }
                // Block until the socket can take a write, THEN pick — so a frame
                // that arrives during backpressure is considered before we commit.
                await this.#sink.ready();
                if (this.#control.length > 0) {
                    const bytes = this.#control.shift();
                    this.#controlBytes -= bytes.byteLength;
                    await this.#sink.write(bytes);
                    this.#onActivity();
                    continue;
                }
                if (this.#datagrams.length > 0) {
                    const bytes = this.#datagrams.shift();
                    await this.#sink.write(bytes);
                    this.#onActivity();
                    continue;
                }
                if (this.#closed)
                    return; // closed with only stream frames left (already rejected)
                if (this.#ready.size === 0)
                    continue;
                const id = this.#pickStream();
                const waiter = this.#ready.get(id);
                this.#ready.delete(id);
                try {
                    await this.#sink.write(waiter.bytes);
                }
                catch (err) {
                    // The frame never made it; reject this stream's promise (it's no
                    // longer in #ready, so #fail wouldn't) and tear down the rest.
                    waiter.reject(err instanceof Error ? err : new Error(String(err)));
                    throw err;
                }
                this.#onActivity();
                waiter.resolve();
            }
        }
        catch (err) {
            this.#fail(err instanceof Error ? err : new Error(String(err)));
        }
    }
    #fail(err) {
        this.#closed ??= err;
        for (const waiter of this.#ready.values())
            waiter.reject(err);
        this.#ready.clear();
        this.#control.length = 0;
        this.#controlBytes = 0;
        this.#datagrams.length = 0;
    }
}
