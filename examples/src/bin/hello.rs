fn main(){ println!("hello"); }
