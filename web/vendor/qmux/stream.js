import { VarInt } from "./varint.js";
export const Dir = {
    Bi: 0,
    Uni: 1,
};
export class Id {
    value;
    constructor(value) {
        this.value = value;
    }
    static create(id, dir, isServer) {
        let streamId = id << 2n;
        if (dir === Dir.Uni) {
            streamId |= 0x02n;
        }
        if (isServer) {
            streamId |= 0x01n;
        }
        return new Id(VarInt.from(streamId));
    }
    get dir() {
        return (this.value.value & 0x02n) !== 0n ? Dir.Uni : Dir.Bi;
    }
    get serverInitiated() {
        return (this.value.value & 0x01n) !== 0n;
    }
    /** Returns the 0-based sequence index of this stream. */
    get index() {
        return this.value.value >> 2n;
    }
    canRecv(isServer) {
        if (this.dir === Dir.Uni) {
            return this.serverInitiated !== isServer;
        }
        return true;
    }
    canSend(isServer) {
        if (this.dir === Dir.Uni) {
            return this.serverInitiated === isServer;
        }
        return true;
    }
}
