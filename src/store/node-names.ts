/**
 * Node ids seen in versions, numbered so a slot can hold one as a number. A
 * cluster has few node ids (one per node start), so this stays small.
 */
export class NodeNames {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];

  idOf(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
    }
    return id;
  }

  nameOf(id: number): string {
    return this.names[id]!;
  }
}
