import URing
do {
    let ring = try Ring(entries: 8)
    print("io_uring features:", ring.features)
} catch {
    print(error)
}
