import type { InboundOf } from './frames.js';

/**
 * The control channel's dispatch table: one handler per DMS → relay frame type, typed by the
 * frame schema. Parts contribute the handlers for the frame types they own; the composition
 * root assembles this table. The channel owns transport, persistence and dedupe; the
 * handlers own meaning (see FrameRefused in core/ports.ts for the contract).
 */
export interface InboundHandlers {
  'task.submit'?: (frame: InboundOf<'task.submit'>) => void;
  'task.update'?: (frame: InboundOf<'task.update'>) => void;
  'task.delete'?: (frame: InboundOf<'task.delete'>) => void;
  'images.sync'?: (frame: InboundOf<'images.sync'>) => void;
  'cert.install'?: (frame: InboundOf<'cert.install'>) => void;
  'rollout.submit'?: (frame: InboundOf<'rollout.submit'>) => void;
  'rollout.update'?: (frame: InboundOf<'rollout.update'>) => void;
  'rollout.pause'?: (frame: InboundOf<'rollout.pause'>) => void;
  'rollout.resume'?: (frame: InboundOf<'rollout.resume'>) => void;
  'rollout.cancel'?: (frame: InboundOf<'rollout.cancel'>) => void;
}
