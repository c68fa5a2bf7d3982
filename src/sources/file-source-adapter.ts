// The file source (sources/file.ts) as a public Source: YAML/JSON files of Kubernetes objects,
// reloaded when they change.

import { FileSource, type FileSourceOptions } from './file.ts';
import { StoreSink, type Source, type SourceSink } from './source.ts';

export class FilesSource implements Source {
  readonly name = 'files';
  readonly #paths: string[];
  readonly #options: FileSourceOptions;
  #source: FileSource | null = null;

  constructor(paths: string[], options: FileSourceOptions) {
    this.#paths = paths;
    this.#options = options;
  }

  async start(sink: SourceSink): Promise<void> {
    if (!(sink instanceof StoreSink)) throw new Error('files source: needs the router\'s own sink');
    this.#source = new FileSource(this.#paths, sink.store, this.#options);
    await this.#source.start();
  }

  stop(): void {
    this.#source?.stop();
  }
}
