@_spi(Fuzzing) import CIFAR

/// libFuzzer's entry point: one input, read by the reader; a crash or a sanitizer report fails.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    RawCIFARReaders.image(Array(UnsafeBufferPointer(start: data, count: count)))
    return 0
}
